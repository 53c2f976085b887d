#include "cvm-spec.h"
/* in progress */
