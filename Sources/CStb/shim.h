// Debian's libstb ships the implementations in libstb.so; only declarations here.
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
