// libturbojpeg (JPEG decode/encode) and libpng (PNG decode/encode).
#include <turbojpeg.h>
#include <png.h>
