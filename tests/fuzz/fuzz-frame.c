/* libFuzzer: control-channel bytes from a guest or a host through the incremental frame decoder,
 * fed in two pieces; every decoded frame must pack again within the limit. */
#include "frame.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    CvFrameReader *r = cv_frame_reader_new();
    gsize half = size / 2;

    for (int piece = 0; piece < 2; piece++) {
        if (piece == 0)
            cv_frame_reader_feed(r, data, half);
        else
            cv_frame_reader_feed(r, data + half, size - half);
        for (;;) {
            CvFrame *f = NULL;
            GError *error = NULL;
            GBytes *again;
            if (!cv_frame_reader_next(r, &f, &error)) {
                if (!error)
                    __builtin_trap();
                g_error_free(error);
                goto out;
            }
            if (!f)
                break;
            again = cv_frame_pack(f, NULL);
            if (!again)
                __builtin_trap();
            g_bytes_unref(again);
            cv_frame_free(f);
        }
    }
 out:
    cv_frame_reader_free(r);
    return 0;
}
