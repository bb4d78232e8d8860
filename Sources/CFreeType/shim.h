// FreeType 2 (Debian libfreetype-dev), for drawing box labels; pkg-config freetype2.
#include <ft2build.h>
#include FT_FREETYPE_H
