#include "domain-render.h"
/* in progress */
