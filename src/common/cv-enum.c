#include "cv-enum.h"

const char *
cv_enum_to_string(const char *const *names, guint count, int value)
{
    return value >= 0 && (guint)value < count ? names[value] : NULL;
}

int
cv_enum_from_string(const char *const *names, guint count, const char *text)
{
    for (guint i = 0; text && i < count; i++) {
        if (strcmp(text, names[i]) == 0)
            return (int)i;
    }
    return -1;
}
