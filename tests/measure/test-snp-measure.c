#define _GNU_SOURCE /* memmem */
/* The SEV-SNP launch digest against the values of ../shared/testvectors/sev-snp-measure/README.md (from
 * virtee/sev-snp-measure's tests, the SVSM ones from a real launch), and hostile firmware images. */
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "cv-util.h"
#include "snp-measure.h"

static char *vectors;

static char *
vector(const char *name)
{
    return g_build_filename(vectors, "sev-snp-measure", name, NULL);
}

static char *
measure_hex(const CvSnpInputs *in, GError **error)
{
    guint8 digest[CV_SNP_DIGEST_SIZE];

    if (!cv_snp_measure(in, digest, error))
        return NULL;
    return cv_hex_encode(digest, sizeof(digest));
}

static guint32
epyc_v4(void)
{
    guint32 sig = 0;

    g_assert_true(cv_snp_vcpu_sig_from_type("EPYC-v4", &sig));
    return sig;
}

/* The README's table, row by row */
static void
test_amdsev_vectors(void)
{
    g_autofree char *ovmf = vector("ovmf_AmdSev_suffix.bin");
    static const struct {
        guint vcpus;
        guint64 features;
        gboolean kernel;
        const char *append;
        const char *digest;
    } rows[] = {
        { 1, 0x21, TRUE, "console=ttyS0 loglevel=7",
          "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977" },
        { 1, 0x21, FALSE, NULL,
          "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b" },
        { 4, 0x21, TRUE, "",
          "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942" },
        { 4, 0x1, TRUE, "",
          "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        CvSnpInputs in = { .vcpus = rows[i].vcpus, .vcpu_sig = epyc_v4(), .vmm = CV_SNP_VMM_QEMU,
                           .guest_features = rows[i].features, .ovmf = ovmf };
        g_autoptr(GError) error = NULL;
        g_autofree char *hex = NULL;

        if (rows[i].kernel) {
            in.kernel = "/dev/null";
            in.initrd = "/dev/null";
            in.append = rows[i].append;
        }
        hex = measure_hex(&in, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(hex, ==, rows[i].digest);
    }
}

/* "snp:ovmf-hash", and a launch digest seeded with it equals the one computed over the OVMF pages */
static void
test_ovmf_hash(void)
{
    g_autofree char *ovmf = vector("ovmf_AmdSev_suffix.bin");
    guint8 hash[CV_SNP_DIGEST_SIZE];
    g_autofree char *hex = NULL, *seeded = NULL;
    g_autoptr(GError) error = NULL;
    CvSnpInputs in = { .vcpus = 1, .vcpu_sig = epyc_v4(), .guest_features = 0x21, .ovmf = ovmf,
                       .kernel = "/dev/null", .initrd = "/dev/null", .append = "console=ttyS0 loglevel=7" };

    g_assert_true(cv_snp_ovmf_hash(ovmf, hash, &error));
    hex = cv_hex_encode(hash, sizeof(hash));
    g_assert_cmpstr(hex, ==,
                    "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74");
    in.ovmf_hash = hash;
    seeded = measure_hex(&in, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(seeded, ==,
                    "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977");
}

static void
test_svsm_vectors(void)
{
    g_autofree char *ovmf = vector("svsm_ovmf.fd");
    g_autofree char *svsm = vector("svsm.bin");
    static const struct { guint vcpus; const char *digest; } rows[] = {
        { 4, "27d154c27b7b359c935e250ec6fee72aa0ae8c1225e3b0e1cf46a9567e938066d7d6f94bbdc4a857818bdb79277a44b2" },
        { 2, "9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        CvSnpInputs in = { .vcpus = rows[i].vcpus, .vcpu_sig = epyc_v4(), .guest_features = 0x21, .ovmf = ovmf,
                           .svsm = svsm, .vars_size = 540672 };
        g_autoptr(GError) error = NULL;
        g_autofree char *hex = measure_hex(&in, &error);

        g_assert_no_error(error);
        g_assert_cmpstr(hex, ==, rows[i].digest);
    }
}

/* Signatures as AMD's CPUID specification composes them (Fn0000_0001_EAX) */
static void
test_vcpu_sig(void)
{
    guint32 sig = 0;
    g_autofree char *names = cv_snp_vcpu_type_names();

    g_assert_cmphex(epyc_v4(), ==, 0x00800f12);
    g_assert_true(cv_snp_vcpu_sig_from_type("EPYC-Milan", &sig));
    g_assert_cmphex(sig, ==, 0x00a00f11);
    g_assert_true(cv_snp_vcpu_sig_from_type("EPYC-Genoa", &sig));
    g_assert_cmphex(sig, ==, 0x00a10f10);
    g_assert_cmphex(cv_snp_cpu_sig(25, 17, 0), ==, 0x00a10f10);
    g_assert_false(cv_snp_vcpu_sig_from_type("Skylake", &sig));
    g_assert_nonnull(strstr(names, "EPYC-Turin"));
}

static void
assert_refused(const CvSnpInputs *in, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *hex = measure_hex(in, &error);

    g_assert_null(hex);
    g_assert_nonnull(error);
    if (!strstr(error->message, needle))
        g_error("'%s' does not say '%s'", error->message, needle);
}

/* The plain OvmfPkgX64 build has no kernel hashes section: asking for a kernel is refused, naming it */
static void
test_no_kernel_hashes(void)
{
    g_autofree char *ovmf = vector("ovmf_OvmfX64_suffix.bin");
    CvSnpInputs in = { .vcpus = 1, .vcpu_sig = epyc_v4(), .guest_features = 1, .ovmf = ovmf };
    g_autofree char *hex = NULL;

    hex = measure_hex(&in, NULL);
    g_assert_nonnull(hex);
    in.kernel = "/dev/null";
    assert_refused(&in, "ovmf_OvmfX64_suffix.bin has no SNP kernel hashes section");
}

static char *
write_temp(const guint8 *data, gsize len)
{
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("measure-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_true(g_file_set_contents(path, (const char *)data, len, NULL));
    close(fd);
    return g_steal_pointer(&path);
}

/* A firmware without SEV metadata, one cut short, one whose footer lies: each an error naming the file */
static void
test_hostile_images(void)
{
    g_autofree char *src = vector("ovmf_AmdSev_suffix.bin");
    g_autofree guint8 *data = NULL;
    gsize len = 0;
    CvSnpInputs in = { .vcpus = 1, .vcpu_sig = epyc_v4(), .guest_features = 1 };
    g_autofree char *zeros = NULL, *cut = NULL, *lying = NULL;
    guint8 footer_size[2];

    g_assert_true(g_file_get_contents(src, (char **)&data, &len, NULL));
    g_assert_cmpuint(len, ==, 4096);
    zeros = write_temp((const guint8[4096]){ 0 }, 4096);
    in.ovmf = zeros;
    assert_refused(&in, "has no SEV metadata");
    cut = write_temp(data, 4000);
    in.ovmf = cut;
    assert_refused(&in, "not whole pages");
    /* the footer entry's size (16 bits before its GUID, 50 bytes from the end) set past the image */
    footer_size[0] = data[len - 50];
    footer_size[1] = data[len - 49];
    data[len - 50] = 0xff;
    data[len - 49] = 0xff;
    lying = write_temp(data, len);
    in.ovmf = lying;
    assert_refused(&in, "footer table claims");
    /* the SEV metadata entry (its payload ends 18 bytes before its GUID) pointing 8 bytes before the end */
    {
        CvGuid meta = cv_guid_from_string(CV_GUID_OVMF_SEV_METADATA);
        guint8 *guid = memmem(data, len, meta.bytes, 16);

        g_assert_nonnull(guid);
        data[len - 50] = footer_size[0]; /* the footer's size back */
        data[len - 49] = footer_size[1];
        memcpy(guid - 6, (const guint8[4]){ 8, 0, 0, 0 }, 4);
        g_assert_true(g_file_set_contents(lying, (const char *)data, len, NULL));
        assert_refused(&in, "SEV metadata offset 8 is outside the image");
    }
    in.ovmf = "/nonexistent/OVMF.fd";
    assert_refused(&in, "/nonexistent/OVMF.fd");
    g_unlink(zeros);
    g_unlink(cut);
    g_unlink(lying);
}

/* Debian's OVMF.fd carries the SEV metadata too; OVMF_CODE_4M.fd is measured without it being refused */
static void
test_debian_ovmf(void)
{
    const char *path = "/usr/share/ovmf/OVMF.fd";
    CvSnpInputs in = { .vcpus = 2, .vcpu_sig = epyc_v4(), .guest_features = 1, .ovmf = path };
    g_autoptr(GError) error = NULL;
    g_autofree char *hex = NULL, *other = NULL;

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_test_skip("no /usr/share/ovmf/OVMF.fd (Debian's ovmf package)");
        return;
    }
    hex = measure_hex(&in, &error);
    g_assert_no_error(error);
    /* one vCPU more is one VMSA more in the chain */
    in.vcpus = 3;
    other = measure_hex(&in, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(hex, !=, other);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vectors = g_strdup(g_getenv("COVIRT_TESTVECTORS"));
    if (!vectors)
        vectors = g_build_filename(COVIRT_SOURCE_DIR, "..", "shared", "testvectors", NULL);
    g_test_add_func("/measure/snp/amdsev-vectors", test_amdsev_vectors);
    g_test_add_func("/measure/snp/ovmf-hash", test_ovmf_hash);
    g_test_add_func("/measure/snp/svsm-vectors", test_svsm_vectors);
    g_test_add_func("/measure/snp/vcpu-sig", test_vcpu_sig);
    g_test_add_func("/measure/snp/no-kernel-hashes", test_no_kernel_hashes);
    g_test_add_func("/measure/snp/hostile-images", test_hostile_images);
    g_test_add_func("/measure/snp/debian-ovmf", test_debian_ovmf);
    return g_test_run();
}
