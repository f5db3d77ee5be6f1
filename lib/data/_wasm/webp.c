/*
 * WebP decoder (RIFF container, VP8 lossy key frames, VP8L lossless, ALPH
 * alpha) for WebAssembly, without libc. Written for this project from the
 * WebP container spec (RFC 9649) and the VP8 spec (RFC 6386); the YUV->RGB
 * conversion and the "fancy" chroma upsampling reproduce libwebp's integer
 * arithmetic so that results match `dwebp`.
 *
 * Memory is a bump allocator that is never freed within a decode; the host
 * calls wp_reset() before each image (the memory is then reused) and drops
 * the instance when an image made it grow large.
 *
 * Exports: wp_alloc(n) -> ptr; wp_decode(ptr, len, max_pixels) -> 0 or -1
 * (the size is checked against max_pixels before any pixel allocation);
 * wp_header(ptr, len) -> 0 or -1 (container and size only); wp_width(),
 * wp_height(), wp_channels() (3, or 4 with alpha), wp_lossless(),
 * wp_pixels() (RGB or RGBA bytes), wp_error() (a one-line message
 * "Cannot decode WebP: current ...", NUL-terminated).
 */
typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef unsigned long size_t;

#define EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------------------ */
/* Memory, strings, errors                                                   */

extern unsigned char __heap_base;
static size_t g_heap = 0;
static int g_failed = 0;
static char g_msg[256];
static int g_msg_len = 0;

static void msg_str(const char* s) {
  while (*s && g_msg_len < 250) g_msg[g_msg_len++] = *s++;
  g_msg[g_msg_len] = 0;
}
static void msg_int(long long v) {
  char tmp[24];
  int n = 0;
  unsigned long long u = v < 0 ? (unsigned long long)(-v) : (unsigned long long)v;
  if (v < 0) msg_str("-");
  do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u && n < 23);
  while (n > 0 && g_msg_len < 250) g_msg[g_msg_len++] = tmp[--n];
  g_msg[g_msg_len] = 0;
}
/* Starts the (first) error message; later errors are ignored. */
static int fail_begin(void) {
  if (g_failed) return 0;
  g_failed = 1;
  g_msg_len = 0;
  msg_str("Cannot decode WebP: current ");
  return 1;
}
static int fail(const char* what) {
  if (fail_begin()) msg_str(what);
  return 0;
}

static void* wp_malloc(size_t n) {
  if (g_failed) return 0;
  if (g_heap == 0) g_heap = ((size_t)&__heap_base + 15) & ~(size_t)15;
  size_t start = g_heap;
  size_t end = start + ((n + 15) & ~(size_t)15);
  if (end < start || end > 0xFFFF0000ul) {
    fail("image needs more than 4 GiB of memory");
    return 0;
  }
  size_t have = __builtin_wasm_memory_size(0) * 65536ul;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) {
      if (fail_begin()) {
        msg_str("image needs ");
        msg_int((long long)(end >> 20));
        msg_str(" MiB of memory, which could not be allocated");
      }
      return 0;
    }
  }
  g_heap = end;
  return (void*)start;
}
static void* wp_calloc(size_t n) {
  uint8_t* p = (uint8_t*)wp_malloc(n);
  if (p) __builtin_memset(p, 0, n);
  return p;
}

/* clang lowers struct copies and loops to these. */
void* memset(void* d, int c, size_t n) {
  uint8_t* p = (uint8_t*)d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}
void* memcpy(void* d, const void* s, size_t n) {
  uint8_t* p = (uint8_t*)d;
  const uint8_t* q = (const uint8_t*)s;
  while (n--) *p++ = *q++;
  return d;
}
void* memmove(void* d, const void* s, size_t n) {
  uint8_t* p = (uint8_t*)d;
  const uint8_t* q = (const uint8_t*)s;
  if (p < q) {
    while (n--) *p++ = *q++;
  } else {
    while (n--) p[n] = q[n];
  }
  return d;
}

static inline int clip255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* Output */
static int g_width = 0, g_height = 0, g_channels = 0, g_has_alpha = 0;
static int g_animated = 0, g_lossless = 0;
static uint8_t* g_pixels = 0;

/* Spec constant tables (RFC 6386 sections 13.5, 13.4, 11.5, 14.1), transcribed. */
static const uint8_t kCoeffsProba0[1056] = {
  128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 253, 136, 254, 255, 228, 219, 128,
  128, 128, 128, 128, 189, 129, 242, 255, 227, 213, 255, 219, 128, 128, 128, 106, 126, 227, 252, 214,
  209, 255, 255, 128, 128, 128, 1, 98, 248, 255, 236, 226, 255, 255, 128, 128, 128, 181, 133, 238,
  254, 221, 234, 255, 154, 128, 128, 128, 78, 134, 202, 247, 198, 180, 255, 219, 128, 128, 128, 1,
  185, 249, 255, 243, 255, 128, 128, 128, 128, 128, 184, 150, 247, 255, 236, 224, 128, 128, 128, 128,
  128, 77, 110, 216, 255, 236, 230, 128, 128, 128, 128, 128, 1, 101, 251, 255, 241, 255, 128, 128,
  128, 128, 128, 170, 139, 241, 252, 236, 209, 255, 255, 128, 128, 128, 37, 116, 196, 243, 228, 255,
  255, 255, 128, 128, 128, 1, 204, 254, 255, 245, 255, 128, 128, 128, 128, 128, 207, 160, 250, 255,
  238, 128, 128, 128, 128, 128, 128, 102, 103, 231, 255, 211, 171, 128, 128, 128, 128, 128, 1, 152,
  252, 255, 240, 255, 128, 128, 128, 128, 128, 177, 135, 243, 255, 234, 225, 128, 128, 128, 128, 128,
  80, 129, 211, 255, 194, 224, 128, 128, 128, 128, 128, 1, 1, 255, 128, 128, 128, 128, 128, 128,
  128, 128, 246, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128, 255, 128, 128, 128, 128, 128, 128,
  128, 128, 128, 128, 198, 35, 237, 223, 193, 187, 162, 160, 145, 155, 62, 131, 45, 198, 221, 172,
  176, 220, 157, 252, 221, 1, 68, 47, 146, 208, 149, 167, 221, 162, 255, 223, 128, 1, 149, 241,
  255, 221, 224, 255, 255, 128, 128, 128, 184, 141, 234, 253, 222, 220, 255, 199, 128, 128, 128, 81,
  99, 181, 242, 176, 190, 249, 202, 255, 255, 128, 1, 129, 232, 253, 214, 197, 242, 196, 255, 255,
  128, 99, 121, 210, 250, 201, 198, 255, 202, 128, 128, 128, 23, 91, 163, 242, 170, 187, 247, 210,
  255, 255, 128, 1, 200, 246, 255, 234, 255, 128, 128, 128, 128, 128, 109, 178, 241, 255, 231, 245,
  255, 255, 128, 128, 128, 44, 130, 201, 253, 205, 192, 255, 255, 128, 128, 128, 1, 132, 239, 251,
  219, 209, 255, 165, 128, 128, 128, 94, 136, 225, 251, 218, 190, 255, 255, 128, 128, 128, 22, 100,
  174, 245, 186, 161, 255, 199, 128, 128, 128, 1, 182, 249, 255, 232, 235, 128, 128, 128, 128, 128,
  124, 143, 241, 255, 227, 234, 128, 128, 128, 128, 128, 35, 77, 181, 251, 193, 211, 255, 205, 128,
  128, 128, 1, 157, 247, 255, 236, 231, 255, 255, 128, 128, 128, 121, 141, 235, 255, 225, 227, 255,
  255, 128, 128, 128, 45, 99, 188, 251, 195, 217, 255, 224, 128, 128, 128, 1, 1, 251, 255, 213,
  255, 128, 128, 128, 128, 128, 203, 1, 248, 255, 255, 128, 128, 128, 128, 128, 128, 137, 1, 177,
  255, 224, 255, 128, 128, 128, 128, 128, 253, 9, 248, 251, 207, 208, 255, 192, 128, 128, 128, 175,
  13, 224, 243, 193, 185, 249, 198, 255, 255, 128, 73, 17, 171, 221, 161, 179, 236, 167, 255, 234,
  128, 1, 95, 247, 253, 212, 183, 255, 255, 128, 128, 128, 239, 90, 244, 250, 211, 209, 255, 255,
  128, 128, 128, 155, 77, 195, 248, 188, 195, 255, 255, 128, 128, 128, 1, 24, 239, 251, 218, 219,
  255, 205, 128, 128, 128, 201, 51, 219, 255, 196, 186, 128, 128, 128, 128, 128, 69, 46, 190, 239,
  201, 218, 255, 228, 128, 128, 128, 1, 191, 251, 255, 255, 128, 128, 128, 128, 128, 128, 223, 165,
  249, 255, 213, 255, 128, 128, 128, 128, 128, 141, 124, 248, 255, 255, 128, 128, 128, 128, 128, 128,
  1, 16, 248, 255, 255, 128, 128, 128, 128, 128, 128, 190, 36, 230, 255, 236, 255, 128, 128, 128,
  128, 128, 149, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128, 1, 226, 255, 128, 128, 128, 128,
  128, 128, 128, 128, 247, 192, 255, 128, 128, 128, 128, 128, 128, 128, 128, 240, 128, 255, 128, 128,
  128, 128, 128, 128, 128, 128, 1, 134, 252, 255, 255, 128, 128, 128, 128, 128, 128, 213, 62, 250,
  255, 255, 128, 128, 128, 128, 128, 128, 55, 93, 255, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 202, 24, 213, 235, 186, 191, 220, 160,
  240, 175, 255, 126, 38, 182, 232, 169, 184, 228, 174, 255, 187, 128, 61, 46, 138, 219, 151, 178,
  240, 170, 255, 216, 128, 1, 112, 230, 250, 199, 191, 247, 159, 255, 255, 128, 166, 109, 228, 252,
  211, 215, 255, 174, 128, 128, 128, 39, 77, 162, 232, 172, 180, 245, 178, 255, 255, 128, 1, 52,
  220, 246, 198, 199, 249, 220, 255, 255, 128, 124, 74, 191, 243, 183, 193, 250, 221, 255, 255, 128,
  24, 71, 130, 219, 154, 170, 243, 182, 255, 255, 128, 1, 182, 225, 249, 219, 240, 255, 224, 128,
  128, 128, 149, 150, 226, 252, 216, 205, 255, 171, 128, 128, 128, 28, 108, 170, 242, 183, 194, 254,
  223, 255, 255, 128, 1, 81, 230, 252, 204, 203, 255, 192, 128, 128, 128, 123, 102, 209, 247, 188,
  196, 255, 233, 128, 128, 128, 20, 95, 153, 243, 164, 173, 255, 203, 128, 128, 128, 1, 222, 248,
  255, 216, 213, 128, 128, 128, 128, 128, 168, 175, 246, 252, 235, 205, 255, 255, 128, 128, 128, 47,
  116, 215, 255, 211, 212, 255, 255, 128, 128, 128, 1, 121, 236, 253, 212, 214, 255, 255, 128, 128,
  128, 141, 84, 213, 252, 201, 202, 255, 219, 128, 128, 128, 42, 80, 160, 240, 162, 185, 255, 205,
  128, 128, 128, 1, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128, 244, 1, 255, 128, 128, 128,
  128, 128, 128, 128, 128, 238, 1, 255, 128, 128, 128, 128, 128, 128, 128, 128,
};
static const uint8_t kCoeffsUpdateProba[1056] = {
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 176, 246, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 223, 241, 252, 255, 255, 255, 255, 255, 255, 255, 255, 249, 253, 253, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 244, 252, 255, 255, 255, 255, 255, 255, 255, 255, 234, 254, 254,
  255, 255, 255, 255, 255, 255, 255, 255, 253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  246, 254, 255, 255, 255, 255, 255, 255, 255, 255, 239, 253, 254, 255, 255, 255, 255, 255, 255, 255,
  255, 254, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 248, 254, 255, 255, 255, 255, 255,
  255, 255, 255, 251, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255, 251, 254, 254, 255,
  255, 255, 255, 255, 255, 255, 255, 254, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 254,
  253, 255, 254, 255, 255, 255, 255, 255, 255, 250, 255, 254, 255, 254, 255, 255, 255, 255, 255, 255,
  254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 217, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 225, 252, 241, 253, 255,
  255, 254, 255, 255, 255, 255, 234, 250, 241, 250, 253, 255, 253, 254, 255, 255, 255, 255, 254, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 223, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 238,
  253, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 248, 254, 255, 255, 255, 255, 255, 255, 255,
  255, 249, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 247, 254, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 253, 254, 255,
  255, 255, 255, 255, 255, 255, 255, 252, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255,
  253, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 254, 253, 255, 255, 255, 255, 255, 255, 255, 255, 250, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 186, 251, 250, 255, 255, 255, 255, 255, 255, 255, 255, 234,
  251, 244, 254, 255, 255, 255, 255, 255, 255, 255, 251, 251, 243, 253, 254, 255, 254, 255, 255, 255,
  255, 255, 253, 254, 255, 255, 255, 255, 255, 255, 255, 255, 236, 253, 254, 255, 255, 255, 255, 255,
  255, 255, 255, 251, 253, 253, 254, 254, 255, 255, 255, 255, 255, 255, 255, 254, 254, 255, 255, 255,
  255, 255, 255, 255, 255, 254, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 254, 254,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 248, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 250, 254, 252, 254, 255, 255, 255, 255, 255, 255, 255, 248, 254, 249, 253, 255, 255,
  255, 255, 255, 255, 255, 255, 253, 253, 255, 255, 255, 255, 255, 255, 255, 255, 246, 253, 253, 255,
  255, 255, 255, 255, 255, 255, 255, 252, 254, 251, 254, 254, 255, 255, 255, 255, 255, 255, 255, 254,
  252, 255, 255, 255, 255, 255, 255, 255, 255, 248, 254, 253, 255, 255, 255, 255, 255, 255, 255, 255,
  253, 255, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 251, 254, 255, 255, 255, 255, 255, 255,
  255, 255, 245, 251, 254, 255, 255, 255, 255, 255, 255, 255, 255, 253, 253, 254, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 251, 253, 255, 255, 255, 255, 255, 255, 255, 255, 252, 253, 254, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 252, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 249, 255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 253, 255, 255, 255, 255, 255, 255, 255,
  255, 250, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 254, 255, 255, 255, 255, 255,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
static const uint8_t kBModesProba[900] = {
  231, 120, 48, 89, 115, 113, 120, 152, 112, 152, 179, 64, 126, 170, 118, 46, 70, 95, 175, 69,
  143, 80, 85, 82, 72, 155, 103, 56, 58, 10, 171, 218, 189, 17, 13, 152, 114, 26, 17, 163,
  44, 195, 21, 10, 173, 121, 24, 80, 195, 26, 62, 44, 64, 85, 144, 71, 10, 38, 171, 213,
  144, 34, 26, 170, 46, 55, 19, 136, 160, 33, 206, 71, 63, 20, 8, 114, 114, 208, 12, 9,
  226, 81, 40, 11, 96, 182, 84, 29, 16, 36, 134, 183, 89, 137, 98, 101, 106, 165, 148, 72,
  187, 100, 130, 157, 111, 32, 75, 80, 66, 102, 167, 99, 74, 62, 40, 234, 128, 41, 53, 9,
  178, 241, 141, 26, 8, 107, 74, 43, 26, 146, 73, 166, 49, 23, 157, 65, 38, 105, 160, 51,
  52, 31, 115, 128, 104, 79, 12, 27, 217, 255, 87, 17, 7, 87, 68, 71, 44, 114, 51, 15,
  186, 23, 47, 41, 14, 110, 182, 183, 21, 17, 194, 66, 45, 25, 102, 197, 189, 23, 18, 22,
  88, 88, 147, 150, 42, 46, 45, 196, 205, 43, 97, 183, 117, 85, 38, 35, 179, 61, 39, 53,
  200, 87, 26, 21, 43, 232, 171, 56, 34, 51, 104, 114, 102, 29, 93, 77, 39, 28, 85, 171,
  58, 165, 90, 98, 64, 34, 22, 116, 206, 23, 34, 43, 166, 73, 107, 54, 32, 26, 51, 1,
  81, 43, 31, 68, 25, 106, 22, 64, 171, 36, 225, 114, 34, 19, 21, 102, 132, 188, 16, 76,
  124, 62, 18, 78, 95, 85, 57, 50, 48, 51, 193, 101, 35, 159, 215, 111, 89, 46, 111, 60,
  148, 31, 172, 219, 228, 21, 18, 111, 112, 113, 77, 85, 179, 255, 38, 120, 114, 40, 42, 1,
  196, 245, 209, 10, 25, 109, 88, 43, 29, 140, 166, 213, 37, 43, 154, 61, 63, 30, 155, 67,
  45, 68, 1, 209, 100, 80, 8, 43, 154, 1, 51, 26, 71, 142, 78, 78, 16, 255, 128, 34,
  197, 171, 41, 40, 5, 102, 211, 183, 4, 1, 221, 51, 50, 17, 168, 209, 192, 23, 25, 82,
  138, 31, 36, 171, 27, 166, 38, 44, 229, 67, 87, 58, 169, 82, 115, 26, 59, 179, 63, 59,
  90, 180, 59, 166, 93, 73, 154, 40, 40, 21, 116, 143, 209, 34, 39, 175, 47, 15, 16, 183,
  34, 223, 49, 45, 183, 46, 17, 33, 183, 6, 98, 15, 32, 183, 57, 46, 22, 24, 128, 1,
  54, 17, 37, 65, 32, 73, 115, 28, 128, 23, 128, 205, 40, 3, 9, 115, 51, 192, 18, 6,
  223, 87, 37, 9, 115, 59, 77, 64, 21, 47, 104, 55, 44, 218, 9, 54, 53, 130, 226, 64,
  90, 70, 205, 40, 41, 23, 26, 57, 54, 57, 112, 184, 5, 41, 38, 166, 213, 30, 34, 26,
  133, 152, 116, 10, 32, 134, 39, 19, 53, 221, 26, 114, 32, 73, 255, 31, 9, 65, 234, 2,
  15, 1, 118, 73, 75, 32, 12, 51, 192, 255, 160, 43, 51, 88, 31, 35, 67, 102, 85, 55,
  186, 85, 56, 21, 23, 111, 59, 205, 45, 37, 192, 55, 38, 70, 124, 73, 102, 1, 34, 98,
  125, 98, 42, 88, 104, 85, 117, 175, 82, 95, 84, 53, 89, 128, 100, 113, 101, 45, 75, 79,
  123, 47, 51, 128, 81, 171, 1, 57, 17, 5, 71, 102, 57, 53, 41, 49, 38, 33, 13, 121,
  57, 73, 26, 1, 85, 41, 10, 67, 138, 77, 110, 90, 47, 114, 115, 21, 2, 10, 102, 255,
  166, 23, 6, 101, 29, 16, 10, 85, 128, 101, 196, 26, 57, 18, 10, 102, 102, 213, 34, 20,
  43, 117, 20, 15, 36, 163, 128, 68, 1, 26, 102, 61, 71, 37, 34, 53, 31, 243, 192, 69,
  60, 71, 38, 73, 119, 28, 222, 37, 68, 45, 128, 34, 1, 47, 11, 245, 171, 62, 17, 19,
  70, 146, 85, 55, 62, 70, 37, 43, 37, 154, 100, 163, 85, 160, 1, 63, 9, 92, 136, 28,
  64, 32, 201, 85, 75, 15, 9, 9, 64, 255, 184, 119, 16, 86, 6, 28, 5, 64, 255, 25,
  248, 1, 56, 8, 17, 132, 137, 255, 55, 116, 128, 58, 15, 20, 82, 135, 57, 26, 121, 40,
  164, 50, 31, 137, 154, 133, 25, 35, 218, 51, 103, 44, 131, 131, 123, 31, 6, 158, 86, 40,
  64, 135, 148, 224, 45, 183, 128, 22, 26, 17, 131, 240, 154, 14, 1, 209, 45, 16, 21, 91,
  64, 222, 7, 1, 197, 56, 21, 39, 155, 60, 138, 23, 102, 213, 83, 12, 13, 54, 192, 255,
  68, 47, 28, 85, 26, 85, 85, 128, 128, 32, 146, 171, 18, 11, 7, 63, 144, 171, 4, 4,
  246, 35, 27, 10, 146, 174, 171, 12, 26, 128, 190, 80, 35, 99, 180, 80, 126, 54, 45, 85,
  126, 47, 87, 176, 51, 41, 20, 32, 101, 75, 128, 139, 118, 146, 116, 128, 85, 56, 41, 15,
  176, 236, 85, 37, 9, 62, 71, 30, 17, 119, 118, 255, 17, 18, 138, 101, 38, 60, 138, 55,
  70, 43, 26, 142, 146, 36, 19, 30, 171, 255, 97, 27, 20, 138, 45, 61, 62, 219, 1, 81,
  188, 64, 32, 41, 20, 117, 151, 142, 20, 21, 163, 112, 19, 12, 61, 195, 128, 48, 4, 24,
};
static const uint8_t kBands[17] = {
  0, 1, 2, 3, 6, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 0,
};
static const uint8_t kDcTable[128] = {
  4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 17, 18, 19, 20, 20,
  21, 21, 22, 22, 23, 23, 24, 25, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
  37, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 46, 47, 48, 49, 50, 51, 52, 53, 54,
  55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74,
  75, 76, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 93, 95, 96,
  98, 100, 101, 102, 104, 106, 108, 110, 112, 114, 116, 118, 122, 124, 126, 128, 130, 132, 134, 136,
  138, 140, 143, 145, 148, 151, 154, 157,
};
static const uint16_t kAcTable[128] = {
  4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
  24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
  44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 60, 62, 64, 66, 68,
  70, 72, 74, 76, 78, 80, 82, 84, 86, 88, 90, 92, 94, 96, 98, 100, 102, 104, 106, 108,
  110, 112, 114, 116, 119, 122, 125, 128, 131, 134, 137, 140, 143, 146, 149, 152, 155, 158, 161, 164,
  167, 170, 173, 177, 181, 185, 189, 193, 197, 201, 205, 209, 213, 217, 221, 225, 229, 234, 239, 245,
  249, 254, 259, 264, 269, 274, 279, 284,
};
/* ------------------------------------------------------------------------ */
/* VP8 boolean decoder (RFC 6386 section 7), byte-wise refill               */

typedef struct {
  const uint8_t* buf;
  const uint8_t* end;
  uint64_t value;
  uint32_t range; /* range - 1, in [127, 254] */
  int bits;       /* number of valid bits left beyond the current 8 */
  int eof;
} BoolReader;

/* Refills 7 bytes at a time while 8 remain, then byte by byte; past the end
 * it feeds zeros once with `eof` set (libwebp's reader, same results). */
static void br_load(BoolReader* br) {
  if (br->end - br->buf >= 8) {
    const uint8_t* p = br->buf;
    const uint64_t in = ((uint64_t)p[0] << 48) | ((uint64_t)p[1] << 40) | ((uint64_t)p[2] << 32) |
                        ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 16) | ((uint64_t)p[5] << 8) |
                        (uint64_t)p[6];
    br->buf += 7;
    br->value = (br->value << 56) | in;
    br->bits += 56;
    return;
  }
  while (br->bits < 0) {
    if (br->buf < br->end) {
      br->value = (br->value << 8) | *br->buf++;
      br->bits += 8;
    } else if (!br->eof) {
      br->value <<= 8;
      br->bits += 8;
      br->eof = 1;
    } else {
      br->bits = 0; /* keep feeding zeros */
    }
  }
}

static void br_init(BoolReader* br, const uint8_t* p, size_t n) {
  br->buf = p;
  br->end = p + n;
  br->value = 0;
  br->range = 255 - 1;
  br->bits = -8;
  br->eof = 0;
  br_load(br);
}

static inline int log2_floor(uint32_t v) { return 31 - __builtin_clz(v); }

static inline int br_bit(BoolReader* br, int prob) {
  uint32_t range = br->range;
  if (br->bits < 0) br_load(br);
  {
    const int pos = br->bits;
    const uint32_t split = (range * (uint32_t)prob) >> 8;
    const uint32_t value = (uint32_t)(br->value >> pos);
    int bit;
    if (value > split) {
      range -= split;
      br->value -= (uint64_t)(split + 1) << pos;
      bit = 1;
    } else {
      range = split + 1;
      bit = 0;
    }
    {
      const int shift = 7 ^ log2_floor(range);
      range <<= shift;
      br->bits -= shift;
    }
    br->range = range - 1;
    return bit;
  }
}

static uint32_t br_value(BoolReader* br, int n) {
  uint32_t v = 0;
  while (n-- > 0) v |= (uint32_t)br_bit(br, 0x80) << n;
  return v;
}
static int br_signed_value(BoolReader* br, int n) {
  const int v = (int)br_value(br, n);
  return br_bit(br, 0x80) ? -v : v;
}

/* ------------------------------------------------------------------------ */
/* VP8 lossy decoding                                                        */

enum { B_DC = 0, B_TM, B_VE, B_HE, B_RD, B_VR, B_LD, B_VL, B_HD, B_HU };

static const uint8_t kZigzag[16] = {0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15};
static const uint8_t kCat3[] = {173, 148, 140, 0};
static const uint8_t kCat4[] = {176, 155, 140, 135, 0};
static const uint8_t kCat5[] = {180, 157, 141, 134, 130, 0};
static const uint8_t kCat6[] = {254, 254, 243, 230, 196, 177, 153, 140, 133, 130, 129, 0};
static const uint8_t* const kCat3456[] = {kCat3, kCat4, kCat5, kCat6};

typedef struct {
  int y1[2], y2[2], uv[2];
} QuantMatrix;

typedef struct {
  uint8_t limit, ilevel, inner, hev;
} FilterInfo;

typedef struct {
  uint8_t nz;    /* bit field of non-zero 4x4 blocks (y: 0-3, u: 4-5, v: 6-7) */
  uint8_t nz_dc; /* y2 block non-zero */
} NzContext;

typedef struct {
  int mb_w, mb_h, width, height;
  /* segment and filter headers */
  int use_segment, update_map, absolute_delta;
  int seg_quant[4], seg_filter[4];
  uint8_t seg_proba[3];
  int filter_simple, filter_level, sharpness, use_lf_delta;
  int ref_lf_delta[4], mode_lf_delta[4];
  int filter_type;
  QuantMatrix dqm[4];
  FilterInfo fstrengths[4][2];
  uint8_t proba[4][8][3][11];
  const uint8_t* bands[4][17]; /* per type and coefficient index: proba[t][band] */
  int use_skip_proba, skip_p;
  int num_parts;
  BoolReader br;
  BoolReader parts[8];
  /* planes, padded to whole macroblocks */
  uint8_t *y, *u, *v;
  int y_stride, uv_stride;
  FilterInfo* finfo; /* mb_w * mb_h */
  uint8_t* intra_t;  /* 4 * mb_w */
  NzContext* nz_top; /* mb_w */
} Vp8;

/* Per-macroblock data parsed from partition 0. */
typedef struct {
  uint8_t segment, skip, is_i4x4, uvmode;
  uint8_t imodes[16];
} MbModes;

static int vp8_parse_headers(Vp8* d, const uint8_t* data, size_t size) {
  BoolReader* br = &d->br;
  uint32_t bits;
  size_t part0_len;
  if (size < 10) return fail("VP8 chunk is truncated (under 10 bytes)");
  bits = data[0] | (data[1] << 8) | (data[2] << 16);
  if (bits & 1) return fail("VP8 frame is not a key frame");
  if (((bits >> 1) & 7) > 3) return fail("VP8 profile is over 3");
  if (!((bits >> 4) & 1)) return fail("VP8 frame is not shown");
  part0_len = bits >> 5;
  if (data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a) {
    return fail("VP8 chunk has a bad start code");
  }
  d->width = (data[6] | (data[7] << 8)) & 0x3fff;
  d->height = (data[8] | (data[9] << 8)) & 0x3fff;
  if (d->width == 0 || d->height == 0) return fail("VP8 frame size is 0");
  data += 10;
  size -= 10;
  if (part0_len > size) return fail("VP8 partition 0 is truncated");
  d->mb_w = (d->width + 15) >> 4;
  d->mb_h = (d->height + 15) >> 4;
  br_init(br, data, part0_len);
  br_bit(br, 0x80); /* colour space */
  br_bit(br, 0x80); /* clamping type */
  /* segment header */
  d->use_segment = br_bit(br, 0x80);
  d->update_map = 0;
  d->seg_proba[0] = d->seg_proba[1] = d->seg_proba[2] = 255;
  if (d->use_segment) {
    int s;
    d->update_map = br_bit(br, 0x80);
    if (br_bit(br, 0x80)) { /* update data */
      d->absolute_delta = br_bit(br, 0x80);
      for (s = 0; s < 4; ++s) d->seg_quant[s] = br_bit(br, 0x80) ? br_signed_value(br, 7) : 0;
      for (s = 0; s < 4; ++s) d->seg_filter[s] = br_bit(br, 0x80) ? br_signed_value(br, 6) : 0;
    }
    if (d->update_map) {
      for (s = 0; s < 3; ++s) d->seg_proba[s] = br_bit(br, 0x80) ? (uint8_t)br_value(br, 8) : 255;
    }
  }
  /* filter header */
  d->filter_simple = br_bit(br, 0x80);
  d->filter_level = (int)br_value(br, 6);
  d->sharpness = (int)br_value(br, 3);
  d->use_lf_delta = br_bit(br, 0x80);
  if (d->use_lf_delta && br_bit(br, 0x80)) {
    int i;
    for (i = 0; i < 4; ++i) {
      if (br_bit(br, 0x80)) d->ref_lf_delta[i] = br_signed_value(br, 6);
    }
    for (i = 0; i < 4; ++i) {
      if (br_bit(br, 0x80)) d->mode_lf_delta[i] = br_signed_value(br, 6);
    }
  }
  d->filter_type = d->filter_level == 0 ? 0 : d->filter_simple ? 1 : 2;
  /* token partitions */
  {
    const uint8_t* sz = data + part0_len;
    const uint8_t* end = data + size;
    const uint8_t* part_start;
    size_t size_left;
    int p;
    d->num_parts = 1 << br_value(br, 2);
    if ((size_t)(end - sz) < 3 * (size_t)(d->num_parts - 1)) {
      return fail("VP8 partition table is truncated");
    }
    part_start = sz + 3 * (d->num_parts - 1);
    size_left = (size_t)(end - part_start);
    for (p = 0; p < d->num_parts - 1; ++p) {
      size_t psize = sz[0] | (sz[1] << 8) | (sz[2] << 16);
      if (psize > size_left) psize = size_left;
      br_init(&d->parts[p], part_start, psize);
      part_start += psize;
      size_left -= psize;
      sz += 3;
    }
    br_init(&d->parts[d->num_parts - 1], part_start, size_left);
    if (part_start >= end) return fail("VP8 data is truncated (no token data)");
  }
  /* quantizers */
  {
    const int base_q0 = (int)br_value(br, 7);
    const int dqy1_dc = br_bit(br, 0x80) ? br_signed_value(br, 4) : 0;
    const int dqy2_dc = br_bit(br, 0x80) ? br_signed_value(br, 4) : 0;
    const int dqy2_ac = br_bit(br, 0x80) ? br_signed_value(br, 4) : 0;
    const int dquv_dc = br_bit(br, 0x80) ? br_signed_value(br, 4) : 0;
    const int dquv_ac = br_bit(br, 0x80) ? br_signed_value(br, 4) : 0;
    int i;
#define QCLIP(v, m) ((v) < 0 ? 0 : (v) > (m) ? (m) : (v))
    for (i = 0; i < 4; ++i) {
      int q;
      QuantMatrix* m = &d->dqm[i];
      if (d->use_segment) {
        q = d->seg_quant[i];
        if (!d->absolute_delta) q += base_q0;
      } else {
        if (i > 0) {
          d->dqm[i] = d->dqm[0];
          continue;
        }
        q = base_q0;
      }
      m->y1[0] = kDcTable[QCLIP(q + dqy1_dc, 127)];
      m->y1[1] = kAcTable[QCLIP(q, 127)];
      m->y2[0] = kDcTable[QCLIP(q + dqy2_dc, 127)] * 2;
      m->y2[1] = (kAcTable[QCLIP(q + dqy2_ac, 127)] * 101581) >> 16;
      if (m->y2[1] < 8) m->y2[1] = 8;
      m->uv[0] = kDcTable[QCLIP(q + dquv_dc, 117)];
      m->uv[1] = kAcTable[QCLIP(q + dquv_ac, 127)];
    }
  }
  br_bit(br, 0x80); /* refresh entropy probs: ignored on key frames */
  {
    int t, b, c, p;
    for (t = 0; t < 4; ++t) {
      for (b = 0; b < 8; ++b) {
        for (c = 0; c < 3; ++c) {
          for (p = 0; p < 11; ++p) {
            const int i = ((t * 8 + b) * 3 + c) * 11 + p;
            d->proba[t][b][c][p] =
                br_bit(br, kCoeffsUpdateProba[i]) ? (uint8_t)br_value(br, 8) : kCoeffsProba0[i];
          }
        }
      }
      for (b = 0; b < 17; ++b) d->bands[t][b] = &d->proba[t][kBands[b]][0][0];
    }
    d->use_skip_proba = br_bit(br, 0x80);
    if (d->use_skip_proba) d->skip_p = (int)br_value(br, 8);
  }
  if (br->eof) return fail("VP8 frame header is truncated");
  return 1;
}

static void vp8_filter_strengths(Vp8* d) {
  int s, i4x4;
  for (s = 0; s < 4; ++s) {
    int base_level;
    if (d->use_segment) {
      base_level = d->seg_filter[s];
      if (!d->absolute_delta) base_level += d->filter_level;
    } else {
      base_level = d->filter_level;
    }
    for (i4x4 = 0; i4x4 <= 1; ++i4x4) {
      FilterInfo* info = &d->fstrengths[s][i4x4];
      int level = base_level;
      if (d->use_lf_delta) {
        level += d->ref_lf_delta[0];
        if (i4x4) level += d->mode_lf_delta[0];
      }
      level = level < 0 ? 0 : level > 63 ? 63 : level;
      if (level > 0) {
        int ilevel = level;
        if (d->sharpness > 0) {
          if (d->sharpness > 4) ilevel >>= 2;
          else ilevel >>= 1;
          if (ilevel > 9 - d->sharpness) ilevel = 9 - d->sharpness;
        }
        if (ilevel < 1) ilevel = 1;
        info->ilevel = (uint8_t)ilevel;
        info->limit = (uint8_t)(2 * level + ilevel);
        info->hev = level >= 40 ? 2 : level >= 15 ? 1 : 0;
      } else {
        info->limit = 0;
      }
      info->inner = (uint8_t)i4x4;
    }
  }
}

static void vp8_parse_modes(Vp8* d, BoolReader* br, uint8_t* left, int mb_x, MbModes* m) {
  uint8_t* top = d->intra_t + 4 * mb_x;
  if (d->update_map) {
    m->segment = !br_bit(br, d->seg_proba[0]) ? (uint8_t)br_bit(br, d->seg_proba[1])
                                               : (uint8_t)(br_bit(br, d->seg_proba[2]) + 2);
  } else {
    m->segment = 0;
  }
  m->skip = d->use_skip_proba ? (uint8_t)br_bit(br, d->skip_p) : 0;
  m->is_i4x4 = !br_bit(br, 145);
  if (!m->is_i4x4) {
    const int ymode = br_bit(br, 156) ? (br_bit(br, 128) ? B_TM : B_HE)
                                      : (br_bit(br, 163) ? B_VE : B_DC);
    int i;
    m->imodes[0] = (uint8_t)ymode;
    for (i = 0; i < 4; ++i) top[i] = left[i] = (uint8_t)ymode;
  } else {
    int x, y;
    for (y = 0; y < 4; ++y) {
      int ymode = left[y];
      for (x = 0; x < 4; ++x) {
        const uint8_t* prob = kBModesProba + (top[x] * 10 + ymode) * 9;
        ymode = !br_bit(br, prob[0])   ? B_DC
                : !br_bit(br, prob[1]) ? B_TM
                : !br_bit(br, prob[2]) ? B_VE
                : !br_bit(br, prob[3])
                    ? (!br_bit(br, prob[4]) ? B_HE : (!br_bit(br, prob[5]) ? B_RD : B_VR))
                    : (!br_bit(br, prob[6])
                           ? B_LD
                           : (!br_bit(br, prob[7]) ? B_VL : (!br_bit(br, prob[8]) ? B_HD : B_HU)));
        top[x] = (uint8_t)ymode;
        m->imodes[y * 4 + x] = (uint8_t)ymode;
      }
      left[y] = (uint8_t)ymode;
    }
  }
  m->uvmode = !br_bit(br, 142)   ? B_DC
              : !br_bit(br, 114) ? B_VE
              : br_bit(br, 183)  ? B_TM
                                 : B_HE;
}

static int get_large_value(BoolReader* br, const uint8_t* p) {
  int v;
  if (!br_bit(br, p[3])) {
    if (!br_bit(br, p[4])) v = 2;
    else v = 3 + br_bit(br, p[5]);
  } else {
    if (!br_bit(br, p[6])) {
      if (!br_bit(br, p[7])) {
        v = 5 + br_bit(br, 159);
      } else {
        v = 7 + 2 * br_bit(br, 165);
        v += br_bit(br, 145);
      }
    } else {
      const uint8_t* tab;
      const int bit1 = br_bit(br, p[8]);
      const int bit0 = br_bit(br, p[9 + bit1]);
      const int cat = 2 * bit1 + bit0;
      v = 0;
      for (tab = kCat3456[cat]; *tab; ++tab) v += v + br_bit(br, *tab);
      v += 3 + (8 << cat);
    }
  }
  return v;
}

/* Returns the index after the last decoded coefficient (libwebp semantics). */
static int get_coeffs(BoolReader* br, const uint8_t* const* prob, int ctx, const int* dq, int n,
                      int16_t* out) {
  const uint8_t* p = prob[n] + ctx * 11;
  for (; n < 16; ++n) {
    if (!br_bit(br, p[0])) return n;
    while (!br_bit(br, p[1])) {
      p = prob[++n];
      if (n == 16) return 16;
    }
    {
      const uint8_t* const p_ctx = prob[n + 1];
      int v;
      if (!br_bit(br, p[2])) {
        v = 1;
        p = p_ctx + 11;
      } else {
        v = get_large_value(br, p);
        p = p_ctx + 22;
      }
      out[kZigzag[n]] = (int16_t)((br_bit(br, 0x80) ? -v : v) * dq[n > 0]);
    }
  }
  return 16;
}

static void transform_wht(const int16_t* in, int16_t* out) {
  int tmp[16];
  int i;
  for (i = 0; i < 4; ++i) {
    const int a0 = in[0 + i] + in[12 + i];
    const int a1 = in[4 + i] + in[8 + i];
    const int a2 = in[4 + i] - in[8 + i];
    const int a3 = in[0 + i] - in[12 + i];
    tmp[0 + i] = a0 + a1;
    tmp[8 + i] = a0 - a1;
    tmp[4 + i] = a3 + a2;
    tmp[12 + i] = a3 - a2;
  }
  for (i = 0; i < 4; ++i) {
    const int dc = tmp[0 + i * 4] + 3;
    const int a0 = dc + tmp[3 + i * 4];
    const int a1 = tmp[1 + i * 4] + tmp[2 + i * 4];
    const int a2 = tmp[1 + i * 4] - tmp[2 + i * 4];
    const int a3 = dc - tmp[3 + i * 4];
    out[0] = (int16_t)((a0 + a1) >> 3);
    out[16] = (int16_t)((a3 + a2) >> 3);
    out[32] = (int16_t)((a0 - a1) >> 3);
    out[48] = (int16_t)((a3 - a2) >> 3);
    out += 64;
  }
}

/* Parses the residuals of one macroblock into coeffs[384] and sets bit n of
 * *blocks when 4x4 block n may be non-zero; returns 1 when all blocks are
 * empty (libwebp's "skip" for the inner loop filter). */
static int vp8_parse_residuals(Vp8* d, BoolReader* br, const MbModes* m, NzContext* top,
                               NzContext* left, int16_t* coeffs, uint32_t* blocks) {
  const QuantMatrix* q = &d->dqm[m->segment];
  const uint8_t* const* ac_proba;
  int16_t* dst = coeffs;
  uint32_t tnz, lnz, out_t_nz, out_l_nz;
  int x, y, ch, first, any = 0, b = 0;
  uint32_t nonzero = 0;
  memset(coeffs, 0, 384 * sizeof(int16_t));
  if (!m->is_i4x4) {
    int16_t dc[16];
    const int ctx = top->nz_dc + left->nz_dc;
    int nz, i;
    memset(dc, 0, sizeof(dc));
    nz = get_coeffs(br, d->bands[1], ctx, q->y2, 0, dc);
    top->nz_dc = left->nz_dc = (uint8_t)(nz > 0);
    if (nz > 1) {
      transform_wht(dc, dst);
    } else {
      const int dc0 = (dc[0] + 3) >> 3;
      for (i = 0; i < 256; i += 16) dst[i] = (int16_t)dc0;
    }
    first = 1;
    ac_proba = d->bands[0];
  } else {
    first = 0;
    ac_proba = d->bands[3];
  }
  tnz = top->nz & 0x0f;
  lnz = left->nz & 0x0f;
  for (y = 0; y < 4; ++y) {
    int l = lnz & 1;
    for (x = 0; x < 4; ++x) {
      const int ctx = l + (tnz & 1);
      const int nz = get_coeffs(br, ac_proba, ctx, q->y1, first, dst);
      l = nz > first;
      tnz = (tnz >> 1) | (l << 7);
      any |= nz > 1 || dst[0] != 0;
      if (nz > first || dst[0] != 0) nonzero |= 1u << b;
      dst += 16;
      ++b;
    }
    tnz >>= 4;
    lnz = (lnz >> 1) | (l << 7);
  }
  out_t_nz = tnz;
  out_l_nz = lnz >> 4;
  for (ch = 0; ch < 4; ch += 2) {
    tnz = top->nz >> (4 + ch);
    lnz = left->nz >> (4 + ch);
    for (y = 0; y < 2; ++y) {
      int l = lnz & 1;
      for (x = 0; x < 2; ++x) {
        const int ctx = l + (tnz & 1);
        const int nz = get_coeffs(br, d->bands[2], ctx, q->uv, 0, dst);
        l = nz > 0;
        tnz = (tnz >> 1) | (l << 3);
        any |= nz > 1 || dst[0] != 0;
        if (nz > 0) nonzero |= 1u << b;
        dst += 16;
        ++b;
      }
      tnz >>= 2;
      lnz = (lnz >> 1) | (l << 5);
    }
    out_t_nz |= (tnz << 4) << ch;
    out_l_nz |= (lnz & 0xf0) << ch;
  }
  top->nz = (uint8_t)out_t_nz;
  left->nz = (uint8_t)out_l_nz;
  *blocks = nonzero;
  return !any;
}

/* ------------------------------------------------------------------------ */
/* VP8 reconstruction: intra prediction + inverse DCT                        */

#define BPS 32 /* work buffer stride */
#define MUL1(a) ((((a) * 20091) >> 16) + (a))
#define MUL2(a) (((a) * 35468) >> 16)

static void transform_add(const int16_t* in, uint8_t* dst) {
  int C[16], *tmp = C;
  int i;
  for (i = 0; i < 4; ++i) {
    const int a = in[0] + in[8];
    const int b = in[0] - in[8];
    const int c = MUL2(in[4]) - MUL1(in[12]);
    const int d = MUL1(in[4]) + MUL2(in[12]);
    tmp[0] = a + d;
    tmp[1] = b + c;
    tmp[2] = b - c;
    tmp[3] = a - d;
    tmp += 4;
    in++;
  }
  tmp = C;
  for (i = 0; i < 4; ++i) {
    const int dc = tmp[0] + 4;
    const int a = dc + tmp[8];
    const int b = dc - tmp[8];
    const int c = MUL2(tmp[4]) - MUL1(tmp[12]);
    const int d = MUL1(tmp[4]) + MUL2(tmp[12]);
    dst[0] = (uint8_t)clip255(dst[0] + ((a + d) >> 3));
    dst[1] = (uint8_t)clip255(dst[1] + ((b + c) >> 3));
    dst[2] = (uint8_t)clip255(dst[2] + ((b - c) >> 3));
    dst[3] = (uint8_t)clip255(dst[3] + ((a - d) >> 3));
    tmp++;
    dst += BPS;
  }
}

#define AVG3(a, b, c) ((uint8_t)(((a) + 2 * (b) + (c) + 2) >> 2))
#define AVG2(a, b) ((uint8_t)(((a) + (b) + 1) >> 1))
#define DST(x, y) dst[(x) + (y) * BPS]

static void fill_block(uint8_t* dst, int v, int size) {
  int j;
  for (j = 0; j < size; ++j) memset(dst + j * BPS, v, size);
}

static void pred_true_motion(uint8_t* dst, int size) {
  const uint8_t* top = dst - BPS;
  const int tl = top[-1];
  int x, y;
  for (y = 0; y < size; ++y) {
    const int l = dst[y * BPS - 1];
    for (x = 0; x < size; ++x) dst[y * BPS + x] = (uint8_t)clip255(top[x] + l - tl);
  }
}

/* 16x16 (size 16) or chroma 8x8 (size 8) prediction. */
static void pred_large(uint8_t* dst, int mode, int size, int mb_x, int mb_y) {
  const int shift = size == 16 ? 4 : 3;
  int x, y;
  switch (mode) {
    case B_DC: {
      int dc = 0;
      if (mb_x > 0 && mb_y > 0) {
        for (x = 0; x < size; ++x) dc += dst[x - BPS] + dst[x * BPS - 1];
        dc = (dc + size) >> (shift + 1);
      } else if (mb_y > 0) {
        for (x = 0; x < size; ++x) dc += dst[x - BPS];
        dc = (dc + (size >> 1)) >> shift;
      } else if (mb_x > 0) {
        for (x = 0; x < size; ++x) dc += dst[x * BPS - 1];
        dc = (dc + (size >> 1)) >> shift;
      } else {
        dc = 0x80;
      }
      fill_block(dst, dc, size);
      break;
    }
    case B_TM: pred_true_motion(dst, size); break;
    case B_VE:
      for (y = 0; y < size; ++y) memcpy(dst + y * BPS, dst - BPS, size);
      break;
    default: /* B_HE */
      for (y = 0; y < size; ++y) memset(dst + y * BPS, dst[y * BPS - 1], size);
      break;
  }
}

static void pred_4x4(uint8_t* dst, int mode) {
  const int I = dst[-1], J = dst[-1 + BPS], K = dst[-1 + 2 * BPS], L = dst[-1 + 3 * BPS];
  const int X = dst[-1 - BPS];
  const int A = dst[-BPS], B = dst[1 - BPS], C = dst[2 - BPS], D = dst[3 - BPS];
  const int E = dst[4 - BPS], F = dst[5 - BPS], G = dst[6 - BPS], H = dst[7 - BPS];
  int i;
  switch (mode) {
    case B_DC: {
      uint32_t dc = 4;
      for (i = 0; i < 4; ++i) dc += dst[i - BPS] + dst[-1 + i * BPS];
      fill_block(dst, (int)(dc >> 3), 4);
      break;
    }
    case B_TM: pred_true_motion(dst, 4); break;
    case B_VE: {
      const uint8_t vals[4] = {AVG3(X, A, B), AVG3(A, B, C), AVG3(B, C, D), AVG3(C, D, E)};
      for (i = 0; i < 4; ++i) memcpy(dst + i * BPS, vals, 4);
      break;
    }
    case B_HE:
      memset(dst, AVG3(X, I, J), 4);
      memset(dst + BPS, AVG3(I, J, K), 4);
      memset(dst + 2 * BPS, AVG3(J, K, L), 4);
      memset(dst + 3 * BPS, AVG3(K, L, L), 4);
      break;
    case B_RD:
      DST(0, 3) = AVG3(J, K, L);
      DST(1, 3) = DST(0, 2) = AVG3(I, J, K);
      DST(2, 3) = DST(1, 2) = DST(0, 1) = AVG3(X, I, J);
      DST(3, 3) = DST(2, 2) = DST(1, 1) = DST(0, 0) = AVG3(A, X, I);
      DST(3, 2) = DST(2, 1) = DST(1, 0) = AVG3(B, A, X);
      DST(3, 1) = DST(2, 0) = AVG3(C, B, A);
      DST(3, 0) = AVG3(D, C, B);
      break;
    case B_LD:
      DST(0, 0) = AVG3(A, B, C);
      DST(1, 0) = DST(0, 1) = AVG3(B, C, D);
      DST(2, 0) = DST(1, 1) = DST(0, 2) = AVG3(C, D, E);
      DST(3, 0) = DST(2, 1) = DST(1, 2) = DST(0, 3) = AVG3(D, E, F);
      DST(3, 1) = DST(2, 2) = DST(1, 3) = AVG3(E, F, G);
      DST(3, 2) = DST(2, 3) = AVG3(F, G, H);
      DST(3, 3) = AVG3(G, H, H);
      break;
    case B_VR:
      DST(0, 0) = DST(1, 2) = AVG2(X, A);
      DST(1, 0) = DST(2, 2) = AVG2(A, B);
      DST(2, 0) = DST(3, 2) = AVG2(B, C);
      DST(3, 0) = AVG2(C, D);
      DST(0, 3) = AVG3(K, J, I);
      DST(0, 2) = AVG3(J, I, X);
      DST(0, 1) = DST(1, 3) = AVG3(I, X, A);
      DST(1, 1) = DST(2, 3) = AVG3(X, A, B);
      DST(2, 1) = DST(3, 3) = AVG3(A, B, C);
      DST(3, 1) = AVG3(B, C, D);
      break;
    case B_VL:
      DST(0, 0) = AVG2(A, B);
      DST(1, 0) = DST(0, 2) = AVG2(B, C);
      DST(2, 0) = DST(1, 2) = AVG2(C, D);
      DST(3, 0) = DST(2, 2) = AVG2(D, E);
      DST(0, 1) = AVG3(A, B, C);
      DST(1, 1) = DST(0, 3) = AVG3(B, C, D);
      DST(2, 1) = DST(1, 3) = AVG3(C, D, E);
      DST(3, 1) = DST(2, 3) = AVG3(D, E, F);
      DST(3, 2) = AVG3(E, F, G);
      DST(3, 3) = AVG3(F, G, H);
      break;
    case B_HU:
      DST(0, 0) = AVG2(I, J);
      DST(2, 0) = DST(0, 1) = AVG2(J, K);
      DST(2, 1) = DST(0, 2) = AVG2(K, L);
      DST(1, 0) = AVG3(I, J, K);
      DST(3, 0) = DST(1, 1) = AVG3(J, K, L);
      DST(3, 1) = DST(1, 2) = AVG3(K, L, L);
      DST(3, 2) = DST(2, 2) = DST(0, 3) = DST(1, 3) = DST(2, 3) = DST(3, 3) = (uint8_t)L;
      break;
    default: /* B_HD */
      DST(0, 0) = DST(2, 1) = AVG2(I, X);
      DST(0, 1) = DST(2, 2) = AVG2(J, I);
      DST(0, 2) = DST(2, 3) = AVG2(K, J);
      DST(0, 3) = AVG2(L, K);
      DST(3, 0) = AVG3(A, B, C);
      DST(2, 0) = AVG3(X, A, B);
      DST(1, 0) = DST(3, 1) = AVG3(I, X, A);
      DST(1, 1) = DST(3, 2) = AVG3(J, I, X);
      DST(1, 2) = DST(3, 3) = AVG3(K, J, I);
      DST(1, 3) = AVG3(L, K, J);
      break;
  }
}

/* Loads a macroblock's work buffer (edges as libwebp/libvpx set them: 127
 * above the frame, 129 left of it) from the unfiltered planes. `size` is 16
 * (luma, with 4 top-right pixels) or 8 (chroma). */
static void load_edges(uint8_t* buf, const uint8_t* plane, int stride, int size, int mb_x,
                       int mb_y, int mb_w) {
  uint8_t* dst = buf + BPS + 1; /* (0, 0) of the block */
  int j;
  const uint8_t* src = plane + (size_t)mb_y * size * stride + mb_x * size;
  if (mb_y > 0) {
    memcpy(dst - BPS, src - stride, size);
    dst[-BPS - 1] = mb_x > 0 ? src[-stride - 1] : 129;
    if (size == 16) {
      if (mb_x < mb_w - 1) memcpy(dst - BPS + 16, src - stride + 16, 4);
      else memset(dst - BPS + 16, src[-stride + 15], 4);
    }
  } else {
    memset(dst - BPS - 1, 127, size + 1 + (size == 16 ? 4 : 0));
  }
  for (j = 0; j < size; ++j) dst[j * BPS - 1] = mb_x > 0 ? src[j * stride - 1] : 129;
  if (size == 16) { /* top-right of the right column's lower sub-blocks */
    for (j = 4; j < 16; j += 4) memcpy(dst + (j - 1) * BPS + 16, dst - BPS + 16, 4);
  }
}

static void store_block(const uint8_t* buf, uint8_t* plane, int stride, int size, int mb_x,
                        int mb_y) {
  const uint8_t* src = buf + BPS + 1;
  uint8_t* dst = plane + (size_t)mb_y * size * stride + mb_x * size;
  int j;
  for (j = 0; j < size; ++j) memcpy(dst + (size_t)j * stride, src + j * BPS, size);
}

static void vp8_reconstruct(Vp8* d, const MbModes* m, const int16_t* coeffs, uint32_t blocks,
                            int mb_x, int mb_y) {
  uint8_t ybuf[BPS * 17], ubuf[BPS * 9], vbuf[BPS * 9];
  uint8_t* y_dst = ybuf + BPS + 1;
  int n;
  load_edges(ybuf, d->y, d->y_stride, 16, mb_x, mb_y, d->mb_w);
  load_edges(ubuf, d->u, d->uv_stride, 8, mb_x, mb_y, d->mb_w);
  load_edges(vbuf, d->v, d->uv_stride, 8, mb_x, mb_y, d->mb_w);
  if (m->is_i4x4) {
    for (n = 0; n < 16; ++n) {
      uint8_t* dst = y_dst + (n & 3) * 4 + (n >> 2) * 4 * BPS;
      pred_4x4(dst, m->imodes[n]);
      if (blocks & (1u << n)) transform_add(coeffs + n * 16, dst);
    }
  } else {
    pred_large(y_dst, m->imodes[0], 16, mb_x, mb_y);
    for (n = 0; n < 16; ++n) {
      if (blocks & (1u << n)) transform_add(coeffs + n * 16, y_dst + (n & 3) * 4 + (n >> 2) * 4 * BPS);
    }
  }
  pred_large(ubuf + BPS + 1, m->uvmode, 8, mb_x, mb_y);
  pred_large(vbuf + BPS + 1, m->uvmode, 8, mb_x, mb_y);
  for (n = 0; n < 4; ++n) {
    const int off = (n & 1) * 4 + (n >> 1) * 4 * BPS;
    if (blocks & (1u << (16 + n))) transform_add(coeffs + 256 + n * 16, ubuf + BPS + 1 + off);
    if (blocks & (1u << (20 + n))) transform_add(coeffs + 320 + n * 16, vbuf + BPS + 1 + off);
  }
  store_block(ybuf, d->y, d->y_stride, 16, mb_x, mb_y);
  store_block(ubuf, d->u, d->uv_stride, 8, mb_x, mb_y);
  store_block(vbuf, d->v, d->uv_stride, 8, mb_x, mb_y);
}

/* ------------------------------------------------------------------------ */
/* VP8 loop filter (RFC 6386 section 15)                                     */

static inline int sclip1(int v) { return v < -128 ? -128 : v > 127 ? 127 : v; }
static inline int sclip2(int v) { return v < -16 ? -16 : v > 15 ? 15 : v; }
static inline int iabs(int v) { return v < 0 ? -v : v; }

static void do_filter2(uint8_t* p, int step) {
  const int p1 = p[-2 * step], p0 = p[-step], q0 = p[0], q1 = p[step];
  const int a = 3 * (q0 - p0) + sclip1(p1 - q1);
  const int a1 = sclip2((a + 4) >> 3);
  const int a2 = sclip2((a + 3) >> 3);
  p[-step] = (uint8_t)clip255(p0 + a2);
  p[0] = (uint8_t)clip255(q0 - a1);
}
static void do_filter4(uint8_t* p, int step) {
  const int p1 = p[-2 * step], p0 = p[-step], q0 = p[0], q1 = p[step];
  const int a = 3 * (q0 - p0);
  const int a1 = sclip2((a + 4) >> 3);
  const int a2 = sclip2((a + 3) >> 3);
  const int a3 = (a1 + 1) >> 1;
  p[-2 * step] = (uint8_t)clip255(p1 + a3);
  p[-step] = (uint8_t)clip255(p0 + a2);
  p[0] = (uint8_t)clip255(q0 - a1);
  p[step] = (uint8_t)clip255(q1 - a3);
}
static void do_filter6(uint8_t* p, int step) {
  const int p2 = p[-3 * step], p1 = p[-2 * step], p0 = p[-step];
  const int q0 = p[0], q1 = p[step], q2 = p[2 * step];
  const int a = sclip1(3 * (q0 - p0) + sclip1(p1 - q1));
  const int a1 = (27 * a + 63) >> 7;
  const int a2 = (18 * a + 63) >> 7;
  const int a3 = (9 * a + 63) >> 7;
  p[-3 * step] = (uint8_t)clip255(p2 + a3);
  p[-2 * step] = (uint8_t)clip255(p1 + a2);
  p[-step] = (uint8_t)clip255(p0 + a1);
  p[0] = (uint8_t)clip255(q0 - a1);
  p[step] = (uint8_t)clip255(q1 - a2);
  p[2 * step] = (uint8_t)clip255(q2 - a3);
}
static int hev(const uint8_t* p, int step, int thresh) {
  const int p1 = p[-2 * step], p0 = p[-step], q0 = p[0], q1 = p[step];
  return iabs(p1 - p0) > thresh || iabs(q1 - q0) > thresh;
}
static int needs_filter(const uint8_t* p, int step, int t) {
  const int p1 = p[-2 * step], p0 = p[-step], q0 = p[0], q1 = p[step];
  return 4 * iabs(p0 - q0) + iabs(p1 - q1) <= t;
}
static int needs_filter2(const uint8_t* p, int step, int t, int it) {
  const int p3 = p[-4 * step], p2 = p[-3 * step], p1 = p[-2 * step];
  const int p0 = p[-step], q0 = p[0];
  const int q1 = p[step], q2 = p[2 * step], q3 = p[3 * step];
  if (4 * iabs(p0 - q0) + iabs(p1 - q1) > t) return 0;
  return iabs(p3 - p2) <= it && iabs(p2 - p1) <= it && iabs(p1 - p0) <= it &&
         iabs(q3 - q2) <= it && iabs(q2 - q1) <= it && iabs(q1 - q0) <= it;
}
/* Simple filter across one edge: `step` crosses the edge, `along` walks it. */
static void simple_edge(uint8_t* p, int step, int along, int thresh) {
  const int thresh2 = 2 * thresh + 1;
  int i;
  for (i = 0; i < 16; ++i) {
    if (needs_filter(p + i * along, step, thresh2)) do_filter2(p + i * along, step);
  }
}
static void normal_edge(uint8_t* p, int step, int along, int size, int thresh, int ithresh,
                        int hev_t, int inner) {
  const int thresh2 = 2 * thresh + 1;
  while (size-- > 0) {
    if (needs_filter2(p, step, thresh2, ithresh)) {
      if (hev(p, step, hev_t)) do_filter2(p, step);
      else if (inner) do_filter4(p, step);
      else do_filter6(p, step);
    }
    p += along;
  }
}

static void vp8_filter_mb(Vp8* d, int mb_x, int mb_y) {
  const FilterInfo* f = &d->finfo[mb_y * d->mb_w + mb_x];
  const int ys = d->y_stride, uvs = d->uv_stride;
  uint8_t* y = d->y + (size_t)mb_y * 16 * ys + mb_x * 16;
  const int limit = f->limit, ilevel = f->ilevel, hev_t = f->hev;
  int k;
  if (limit == 0) return;
  if (d->filter_type == 1) {
    if (mb_x > 0) simple_edge(y, 1, ys, limit + 4);
    if (f->inner) for (k = 4; k < 16; k += 4) simple_edge(y + k, 1, ys, limit);
    if (mb_y > 0) simple_edge(y, ys, 1, limit + 4);
    if (f->inner) for (k = 4; k < 16; k += 4) simple_edge(y + k * ys, ys, 1, limit);
  } else {
    uint8_t* u = d->u + (size_t)mb_y * 8 * uvs + mb_x * 8;
    uint8_t* v = d->v + (size_t)mb_y * 8 * uvs + mb_x * 8;
    if (mb_x > 0) {
      normal_edge(y, 1, ys, 16, limit + 4, ilevel, hev_t, 0);
      normal_edge(u, 1, uvs, 8, limit + 4, ilevel, hev_t, 0);
      normal_edge(v, 1, uvs, 8, limit + 4, ilevel, hev_t, 0);
    }
    if (f->inner) {
      for (k = 4; k < 16; k += 4) normal_edge(y + k, 1, ys, 16, limit, ilevel, hev_t, 1);
      normal_edge(u + 4, 1, uvs, 8, limit, ilevel, hev_t, 1);
      normal_edge(v + 4, 1, uvs, 8, limit, ilevel, hev_t, 1);
    }
    if (mb_y > 0) {
      normal_edge(y, ys, 1, 16, limit + 4, ilevel, hev_t, 0);
      normal_edge(u, uvs, 1, 8, limit + 4, ilevel, hev_t, 0);
      normal_edge(v, uvs, 1, 8, limit + 4, ilevel, hev_t, 0);
    }
    if (f->inner) {
      for (k = 4; k < 16; k += 4) normal_edge(y + k * ys, ys, 1, 16, limit, ilevel, hev_t, 1);
      normal_edge(u + 4 * uvs, uvs, 1, 8, limit, ilevel, hev_t, 1);
      normal_edge(v + 4 * uvs, uvs, 1, 8, limit, ilevel, hev_t, 1);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* YUV 4:2:0 -> RGB, libwebp's integer conversion and "fancy" upsampling     */

static inline int mult_hi(int v, int coeff) { return (v * coeff) >> 8; }
static inline int clip8(int v) { return (v & ~16383) == 0 ? (v >> 6) : (v < 0) ? 0 : 255; }
static inline void yuv_to_rgb(int y, int u, int v, uint8_t* rgb) {
  rgb[0] = (uint8_t)clip8(mult_hi(y, 19077) + mult_hi(v, 26149) - 14234);
  rgb[1] = (uint8_t)clip8(mult_hi(y, 19077) - mult_hi(u, 6419) - mult_hi(v, 13320) + 8708);
  rgb[2] = (uint8_t)clip8(mult_hi(y, 19077) + mult_hi(u, 33050) - 17685);
}

/* One output row: `nu`/`nv` is the nearer chroma row, `fu`/`fv` the farther
 * one (the 9-3-3-1 filter of libwebp's UpsampleRgbLinePair). */
static void upsample_row(const uint8_t* y, const uint8_t* nu, const uint8_t* nv, const uint8_t* fu,
                         const uint8_t* fv, uint8_t* out, int len, int step) {
  const int last_pair = (len - 1) >> 1;
  int x;
  int tl_u = nu[0], tl_v = nv[0], l_u = fu[0], l_v = fv[0];
  yuv_to_rgb(y[0], (3 * tl_u + l_u + 2) >> 2, (3 * tl_v + l_v + 2) >> 2, out);
  for (x = 1; x <= last_pair; ++x) {
    const int t_u = nu[x], t_v = nv[x], c_u = fu[x], c_v = fv[x];
    const int avg_u = tl_u + t_u + l_u + c_u + 8, avg_v = tl_v + t_v + l_v + c_v + 8;
    const int d12_u = (avg_u + 2 * (t_u + l_u)) >> 3, d12_v = (avg_v + 2 * (t_v + l_v)) >> 3;
    const int d03_u = (avg_u + 2 * (tl_u + c_u)) >> 3, d03_v = (avg_v + 2 * (tl_v + c_v)) >> 3;
    yuv_to_rgb(y[2 * x - 1], (d12_u + tl_u) >> 1, (d12_v + tl_v) >> 1, out + (2 * x - 1) * step);
    yuv_to_rgb(y[2 * x], (d03_u + t_u) >> 1, (d03_v + t_v) >> 1, out + 2 * x * step);
    tl_u = t_u;
    tl_v = t_v;
    l_u = c_u;
    l_v = c_v;
  }
  if (!(len & 1)) {
    yuv_to_rgb(y[len - 1], (3 * tl_u + l_u + 2) >> 2, (3 * tl_v + l_v + 2) >> 2,
               out + (len - 1) * step);
  }
}

static void vp8_to_rgb(Vp8* d, uint8_t* out, int step) {
  const int w = d->width, h = d->height;
  const int uv_rows = (h + 1) >> 1;
  int row;
  for (row = 0; row < h; ++row) {
    /* Row 2k uses chroma rows k (near) and k-1; row 2k-1 uses k-1 and k. */
    int near_r, far_r;
    if (row & 1) {
      near_r = row >> 1;
      far_r = near_r + 1;
    } else {
      near_r = row >> 1;
      far_r = near_r - 1;
    }
    if (far_r < 0) far_r = 0;
    if (far_r >= uv_rows) far_r = uv_rows - 1;
    upsample_row(d->y + (size_t)row * d->y_stride, d->u + (size_t)near_r * d->uv_stride,
                 d->v + (size_t)near_r * d->uv_stride, d->u + (size_t)far_r * d->uv_stride,
                 d->v + (size_t)far_r * d->uv_stride, out + (size_t)row * w * step, w, step);
  }
}

/* Decodes a VP8 key frame into `out` (RGB or RGBA with alpha left alone). */
static int vp8_decode(const uint8_t* data, size_t size, uint8_t* out, int step) {
  Vp8 dd, *d = &dd;
  MbModes* modes;
  int16_t coeffs[384];
  uint8_t intra_l[4];
  NzContext left;
  int mb_x, mb_y;
  memset(d, 0, sizeof(*d));
  if (!vp8_parse_headers(d, data, size)) return 0;
  if (d->width != g_width || d->height != g_height) return fail("VP8 frame size differs from the canvas");
  d->y_stride = d->mb_w * 16;
  d->uv_stride = d->mb_w * 8;
  d->y = (uint8_t*)wp_malloc((size_t)d->y_stride * d->mb_h * 16);
  d->u = (uint8_t*)wp_malloc((size_t)d->uv_stride * d->mb_h * 8);
  d->v = (uint8_t*)wp_malloc((size_t)d->uv_stride * d->mb_h * 8);
  d->finfo = (FilterInfo*)wp_calloc(sizeof(FilterInfo) * (size_t)d->mb_w * d->mb_h);
  d->intra_t = (uint8_t*)wp_calloc(4 * (size_t)d->mb_w);
  d->nz_top = (NzContext*)wp_calloc(sizeof(NzContext) * (size_t)d->mb_w);
  modes = (MbModes*)wp_malloc(sizeof(MbModes) * (size_t)d->mb_w);
  if (g_failed) return 0;
  if (d->filter_type > 0) vp8_filter_strengths(d);
  for (mb_y = 0; mb_y < d->mb_h; ++mb_y) {
    BoolReader* tbr = &d->parts[mb_y & (d->num_parts - 1)];
    memset(intra_l, B_DC, 4);
    left.nz = left.nz_dc = 0;
    for (mb_x = 0; mb_x < d->mb_w; ++mb_x) vp8_parse_modes(d, &d->br, intra_l, mb_x, &modes[mb_x]);
    if (d->br.eof) return fail("VP8 data is truncated (premature end of partition 0)");
    for (mb_x = 0; mb_x < d->mb_w; ++mb_x) {
      const MbModes* m = &modes[mb_x];
      NzContext* top = &d->nz_top[mb_x];
      int skip = m->skip;
      uint32_t blocks;
      if (!skip) {
        skip = vp8_parse_residuals(d, tbr, m, top, &left, coeffs, &blocks);
      } else {
        left.nz = top->nz = 0;
        if (!m->is_i4x4) left.nz_dc = top->nz_dc = 0;
        blocks = 0;
      }
      if (d->filter_type > 0) {
        FilterInfo* f = &d->finfo[mb_y * d->mb_w + mb_x];
        *f = d->fstrengths[m->segment][m->is_i4x4];
        f->inner |= !skip;
      }
      if (tbr->eof) return fail("VP8 data is truncated (premature end of a token partition)");
      vp8_reconstruct(d, m, coeffs, blocks, mb_x, mb_y);
    }
  }
  if (d->filter_type > 0) {
    for (mb_y = 0; mb_y < d->mb_h; ++mb_y) {
      for (mb_x = 0; mb_x < d->mb_w; ++mb_x) vp8_filter_mb(d, mb_x, mb_y);
    }
  }
  vp8_to_rgb(d, out, step);
  return 1;
}

/* ------------------------------------------------------------------------ */
/* VP8L lossless                                                             */

typedef struct {
  const uint8_t* buf;
  size_t len, pos;
  uint64_t val;
  int nbits;
  int eos;
} BitReader;

static void lbr_init(BitReader* br, const uint8_t* p, size_t n) {
  br->buf = p;
  br->len = n;
  br->pos = 0;
  br->val = 0;
  br->nbits = 0;
  br->eos = 0;
}
static inline void lbr_fill(BitReader* br) {
  while (br->nbits <= 56 && br->pos < br->len) {
    br->val |= (uint64_t)br->buf[br->pos++] << br->nbits;
    br->nbits += 8;
  }
}
static inline uint32_t lbr_read(BitReader* br, int n) {
  uint32_t v;
  if (n == 0) return 0;
  if (br->nbits < n) {
    lbr_fill(br);
    if (br->nbits < n) {
      br->eos = 1;
      br->nbits = n; /* the missing bits read as zeros */
    }
  }
  v = (uint32_t)(br->val & ((1ull << n) - 1));
  br->val >>= n;
  br->nbits -= n;
  return v;
}

#define HUFF_ROOT_BITS 8
#define MAX_CODE_LEN 15
#define NUM_LITERAL_CODES 256
#define NUM_LENGTH_CODES 24
#define NUM_DISTANCE_CODES 40
#define MAX_CACHE_BITS 11
#define MAX_ALPHABET (NUM_LITERAL_CODES + NUM_LENGTH_CODES + (1 << MAX_CACHE_BITS))

typedef struct {
  uint16_t root[1 << HUFF_ROOT_BITS]; /* (len << 12) | symbol; 0: longer code */
  uint16_t count[MAX_CODE_LEN + 1];
  uint16_t* sorted; /* symbols by (length, value) */
  int single;       /* -1, or the only symbol (0 bits) */
} Huffman;

typedef struct {
  Huffman codes[5]; /* green+length+cache, red, blue, alpha, distance */
} HGroup;

static uint16_t g_lengths[MAX_ALPHABET];
static uint16_t g_sorted_scratch[MAX_ALPHABET];

/* Builds a canonical code; 0 when the lengths do not form a complete code. */
static int huff_build(Huffman* h, const uint16_t* lengths, int n, uint16_t* sorted) {
  uint16_t offset[MAX_CODE_LEN + 2];
  int sym, len, nonzero = 0, left = 1;
  memset(h->count, 0, sizeof(h->count));
  memset(h->root, 0, sizeof(h->root));
  for (sym = 0; sym < n; ++sym) {
    if (lengths[sym] > MAX_CODE_LEN) return 0;
    h->count[lengths[sym]]++;
    if (lengths[sym]) nonzero++;
  }
  if (nonzero == 0) return 0;
  h->sorted = sorted;
  if (nonzero == 1) {
    for (sym = 0; sym < n; ++sym) {
      if (lengths[sym]) h->single = sym;
    }
    return 1;
  }
  h->single = -1;
  for (len = 1; len <= MAX_CODE_LEN; ++len) {
    left = (left << 1) - h->count[len];
    if (left < 0) return 0;
  }
  if (left != 0) return 0;
  offset[1] = 0;
  for (len = 1; len <= MAX_CODE_LEN; ++len) offset[len + 1] = offset[len] + h->count[len];
  for (sym = 0; sym < n; ++sym) {
    if (lengths[sym]) sorted[offset[lengths[sym]]++] = (uint16_t)sym;
  }
  {
    int code = 0, idx = 0;
    for (len = 1; len <= HUFF_ROOT_BITS; ++len) {
      int k;
      for (k = 0; k < h->count[len]; ++k, ++idx, ++code) {
        int rev = 0, b, r;
        for (b = 0; b < len; ++b) rev |= ((code >> b) & 1) << (len - 1 - b);
        for (r = rev; r < (1 << HUFF_ROOT_BITS); r += 1 << len) {
          h->root[r] = (uint16_t)((len << 12) | sorted[idx]);
        }
      }
      code <<= 1;
    }
  }
  return 1;
}

static int huff_read(BitReader* br, const Huffman* h) {
  uint32_t e;
  if (h->single >= 0) return h->single;
  if (br->nbits < MAX_CODE_LEN) lbr_fill(br);
  e = h->root[br->val & ((1u << HUFF_ROOT_BITS) - 1)];
  if (e) {
    const int len = (int)(e >> 12);
    if (br->nbits < len) {
      br->eos = 1;
      return 0;
    }
    br->val >>= len;
    br->nbits -= len;
    return (int)(e & 0xfff);
  }
  { /* canonical decoding, bit by bit, for codes over HUFF_ROOT_BITS */
    int code = 0, first = 0, index = 0, len;
    for (len = 1; len <= MAX_CODE_LEN; ++len) {
      const int count = h->count[len];
      code |= (int)lbr_read(br, 1);
      if (code - first < count) return h->sorted[index + code - first];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    br->eos = 1;
    return 0;
  }
}

static const uint8_t kCodeLengthOrder[19] = {17, 18, 0, 1,  2,  3,  4,  5,  16, 6,
                                             7,  8,  9, 10, 11, 12, 13, 14, 15};

/* Reads one prefix code of `alphabet` symbols into h (sorted from `sorted`). */
static int read_huffman_code(BitReader* br, int alphabet, Huffman* h, uint16_t* sorted) {
  int i;
  memset(g_lengths, 0, sizeof(uint16_t) * alphabet);
  if (lbr_read(br, 1)) { /* simple code */
    const int num_symbols = (int)lbr_read(br, 1) + 1;
    const int first_bits = lbr_read(br, 1) ? 8 : 1;
    int sym = (int)lbr_read(br, first_bits);
    if (sym < alphabet) g_lengths[sym] = 1;
    if (num_symbols == 2) {
      sym = (int)lbr_read(br, 8);
      if (sym < alphabet) g_lengths[sym] = 1;
    }
  } else {
    uint16_t cl_lengths[19];
    uint16_t cl_sorted[19];
    Huffman cl;
    const int num_codes = (int)lbr_read(br, 4) + 4;
    int max_symbol, symbol = 0, prev_len = 8;
    memset(cl_lengths, 0, sizeof(cl_lengths));
    for (i = 0; i < num_codes; ++i) cl_lengths[kCodeLengthOrder[i]] = (uint16_t)lbr_read(br, 3);
    if (!huff_build(&cl, cl_lengths, 19, cl_sorted)) return fail("VP8L data has an invalid code-length code");
    if (lbr_read(br, 1)) {
      const int nbits = 2 + 2 * (int)lbr_read(br, 3);
      max_symbol = 2 + (int)lbr_read(br, nbits);
      if (max_symbol > alphabet) return fail("VP8L data has an invalid code-length count");
    } else {
      max_symbol = alphabet;
    }
    while (symbol < alphabet) {
      int code_len;
      if (max_symbol-- == 0) break;
      if (br->eos) return fail("VP8L data is truncated");
      code_len = huff_read(br, &cl);
      if (code_len < 16) {
        g_lengths[symbol++] = (uint16_t)code_len;
        if (code_len != 0) prev_len = code_len;
      } else {
        const int slot = code_len - 16;
        static const uint8_t extra[3] = {2, 3, 7}, offs[3] = {3, 3, 11};
        int repeat = (int)lbr_read(br, extra[slot]) + offs[slot];
        const int value = slot == 0 ? prev_len : 0;
        if (symbol + repeat > alphabet) return fail("VP8L data has an invalid code-length repeat");
        while (repeat-- > 0) g_lengths[symbol++] = (uint16_t)value;
      }
    }
  }
  if (br->eos) return fail("VP8L data is truncated");
  if (!huff_build(h, g_lengths, alphabet, sorted)) return fail("VP8L data has an invalid prefix code");
  return 1;
}

typedef struct {
  int type, bits, xsize; /* xsize: width before this transform */
  uint32_t* data;        /* sub-image or palette */
} Transform;

static int decode_image_stream(BitReader* br, int xsize, int ysize, int is_level0, uint32_t** out);

static inline int div_round_up(int n, int bits) { return (n + (1 << bits) - 1) >> bits; }

static inline uint32_t add_pixels(uint32_t a, uint32_t b) {
  const uint32_t ag = (a & 0xff00ff00u) + (b & 0xff00ff00u);
  const uint32_t rb = (a & 0x00ff00ffu) + (b & 0x00ff00ffu);
  return (ag & 0xff00ff00u) | (rb & 0x00ff00ffu);
}

static inline int plane_code_to_distance(int xsize, int plane_code) {
  static const uint8_t kCodeToPlane[120] = {
      0x18, 0x07, 0x17, 0x19, 0x28, 0x06, 0x27, 0x29, 0x16, 0x1a, 0x26, 0x2a, 0x38, 0x05, 0x37,
      0x39, 0x15, 0x1b, 0x36, 0x3a, 0x25, 0x2b, 0x48, 0x04, 0x47, 0x49, 0x14, 0x1c, 0x35, 0x3b,
      0x46, 0x4a, 0x24, 0x2c, 0x58, 0x45, 0x4b, 0x34, 0x3c, 0x03, 0x57, 0x59, 0x13, 0x1d, 0x56,
      0x5a, 0x23, 0x2d, 0x44, 0x4c, 0x55, 0x5b, 0x33, 0x3d, 0x68, 0x02, 0x67, 0x69, 0x12, 0x1e,
      0x66, 0x6a, 0x22, 0x2e, 0x54, 0x5c, 0x43, 0x4d, 0x65, 0x6b, 0x32, 0x3e, 0x78, 0x01, 0x77,
      0x79, 0x53, 0x5d, 0x11, 0x1f, 0x64, 0x6c, 0x42, 0x4e, 0x76, 0x7a, 0x21, 0x2f, 0x75, 0x7b,
      0x31, 0x3f, 0x63, 0x6d, 0x52, 0x5e, 0x00, 0x74, 0x7c, 0x41, 0x4f, 0x10, 0x20, 0x62, 0x6e,
      0x30, 0x73, 0x7d, 0x51, 0x5f, 0x40, 0x72, 0x7e, 0x61, 0x6f, 0x50, 0x71, 0x7f, 0x60, 0x70};
  if (plane_code > 120) return plane_code - 120;
  {
    const int dist_code = kCodeToPlane[plane_code - 1];
    const int yoffset = dist_code >> 4;
    const int xoffset = 8 - (dist_code & 0xf);
    const int dist = yoffset * xsize + xoffset;
    return dist >= 1 ? dist : 1;
  }
}

static inline int copy_distance(BitReader* br, int sym) {
  int extra;
  if (sym < 4) return sym + 1;
  extra = (sym - 2) >> 1;
  return ((2 + (sym & 1)) << extra) + (int)lbr_read(br, extra) + 1;
}

static int decode_pixels(BitReader* br, uint32_t* data, int width, int height, HGroup* groups,
                         const uint32_t* meta, int meta_bits, int meta_xsize, int cache_bits) {
  uint32_t* cache = 0;
  const int cache_shift = 32 - cache_bits;
  const size_t total = (size_t)width * height;
  size_t pos = 0;
  int x = 0, y = 0;
  const int mask = meta ? (1 << meta_bits) - 1 : -1;
  const HGroup* g = &groups[0];
  if (cache_bits > 0) {
    cache = (uint32_t*)wp_calloc(sizeof(uint32_t) << cache_bits);
    if (!cache) return 0;
  }
#define CACHE_INSERT(px) \
  if (cache) cache[(uint32_t)(0x1e35a7bdu * (px)) >> cache_shift] = (px)
  while (pos < total) {
    int code;
    if (meta && (x & mask) == 0) {
      g = &groups[meta[(y >> meta_bits) * meta_xsize + (x >> meta_bits)]];
    }
    if (br->eos) return fail("VP8L data is truncated");
    code = huff_read(br, &g->codes[0]);
    if (code < NUM_LITERAL_CODES) {
      const uint32_t red = (uint32_t)huff_read(br, &g->codes[1]);
      const uint32_t blue = (uint32_t)huff_read(br, &g->codes[2]);
      const uint32_t alpha = (uint32_t)huff_read(br, &g->codes[3]);
      const uint32_t px = (alpha << 24) | (red << 16) | ((uint32_t)code << 8) | blue;
      data[pos++] = px;
      CACHE_INSERT(px);
      if (++x >= width) {
        x = 0;
        ++y;
      }
    } else if (code < NUM_LITERAL_CODES + NUM_LENGTH_CODES) {
      const size_t length = (size_t)copy_distance(br, code - NUM_LITERAL_CODES);
      const int dist_sym = huff_read(br, &g->codes[4]);
      const size_t dist = (size_t)plane_code_to_distance(width, copy_distance(br, dist_sym));
      size_t i;
      if (br->eos) return fail("VP8L data is truncated");
      if (dist > pos || length > total - pos) {
        return fail("VP8L data has a backward reference outside the image");
      }
      for (i = 0; i < length; ++i) {
        const uint32_t px = data[pos - dist];
        data[pos++] = px;
        CACHE_INSERT(px);
      }
      x += (int)(length % (size_t)width);
      y += (int)(length / (size_t)width);
      if (x >= width) {
        x -= width;
        ++y;
      }
      if (meta && pos < total && (x & mask)) {
        g = &groups[meta[(y >> meta_bits) * meta_xsize + (x >> meta_bits)]];
      }
    } else {
      const int key = code - NUM_LITERAL_CODES - NUM_LENGTH_CODES;
      uint32_t px;
      if (!cache || key >= (1 << cache_bits)) return fail("VP8L data has an invalid colour cache index");
      px = cache[key];
      data[pos++] = px;
      CACHE_INSERT(px);
      if (++x >= width) {
        x = 0;
        ++y;
      }
    }
  }
#undef CACHE_INSERT
  if (br->eos) return fail("VP8L data is truncated");
  return 1;
}

static inline uint32_t average2(uint32_t a, uint32_t b) {
  return (((a ^ b) & 0xfefefefeu) >> 1) + (a & b);
}
static inline int sub3(int a, int b, int c) {
  const int pb = b - c, pa = a - c;
  return iabs(pb) - iabs(pa);
}
static inline uint32_t select_pred(uint32_t a, uint32_t b, uint32_t c) {
  const int d = sub3((int)(a >> 24), (int)(b >> 24), (int)(c >> 24)) +
                sub3((int)((a >> 16) & 0xff), (int)((b >> 16) & 0xff), (int)((c >> 16) & 0xff)) +
                sub3((int)((a >> 8) & 0xff), (int)((b >> 8) & 0xff), (int)((c >> 8) & 0xff)) +
                sub3((int)(a & 0xff), (int)(b & 0xff), (int)(c & 0xff));
  return d <= 0 ? a : b;
}
static inline uint32_t clamped_add_sub_full(uint32_t c0, uint32_t c1, uint32_t c2) {
  uint32_t out = 0;
  int s;
  for (s = 0; s < 32; s += 8) {
    const int v = (int)((c0 >> s) & 0xff) + (int)((c1 >> s) & 0xff) - (int)((c2 >> s) & 0xff);
    out |= (uint32_t)clip255(v) << s;
  }
  return out;
}
static inline uint32_t clamped_add_sub_half(uint32_t c0, uint32_t c1, uint32_t c2) {
  const uint32_t ave = average2(c0, c1);
  uint32_t out = 0;
  int s;
  for (s = 0; s < 32; s += 8) {
    const int a = (int)((ave >> s) & 0xff), b = (int)((c2 >> s) & 0xff);
    out |= (uint32_t)clip255(a + (a - b) / 2) << s;
  }
  return out;
}

static void inverse_predictor(const Transform* t, uint32_t* data, int width, int height) {
  const int tiles_per_row = div_round_up(width, t->bits);
  int x, y;
  data[0] = add_pixels(data[0], 0xff000000u);
  for (x = 1; x < width; ++x) data[x] = add_pixels(data[x], data[x - 1]);
  for (y = 1; y < height; ++y) {
    uint32_t* row = data + (size_t)y * width;
    const uint32_t* up = row - width;
    const uint32_t* modes = t->data + (size_t)(y >> t->bits) * tiles_per_row;
    row[0] = add_pixels(row[0], up[0]);
    for (x = 1; x < width; ++x) {
      const int mode = (int)((modes[x >> t->bits] >> 8) & 0xf);
      const uint32_t L = row[x - 1], T = up[x], TL = up[x - 1], TR = up[x + 1];
      uint32_t pred;
      switch (mode) {
        case 1: pred = L; break;
        case 2: pred = T; break;
        case 3: pred = TR; break;
        case 4: pred = TL; break;
        case 5: pred = average2(average2(L, TR), T); break;
        case 6: pred = average2(L, TL); break;
        case 7: pred = average2(L, T); break;
        case 8: pred = average2(TL, T); break;
        case 9: pred = average2(T, TR); break;
        case 10: pred = average2(average2(L, TL), average2(T, TR)); break;
        case 11: pred = select_pred(T, L, TL); break;
        case 12: pred = clamped_add_sub_full(L, T, TL); break;
        case 13: pred = clamped_add_sub_half(L, T, TL); break;
        default: pred = 0xff000000u; break;
      }
      row[x] = add_pixels(row[x], pred);
    }
  }
}

static inline int color_delta(int8_t pred, int8_t color) { return ((int)pred * color) >> 5; }

static void inverse_color(const Transform* t, uint32_t* data, int width, int height) {
  const int tiles_per_row = div_round_up(width, t->bits);
  int x, y;
  for (y = 0; y < height; ++y) {
    uint32_t* row = data + (size_t)y * width;
    const uint32_t* mults = t->data + (size_t)(y >> t->bits) * tiles_per_row;
    for (x = 0; x < width; ++x) {
      const uint32_t m = mults[x >> t->bits];
      const int8_t g2r = (int8_t)(m & 0xff), g2b = (int8_t)((m >> 8) & 0xff);
      const int8_t r2b = (int8_t)((m >> 16) & 0xff);
      const uint32_t argb = row[x];
      const int8_t green = (int8_t)(argb >> 8);
      int new_red = (int)((argb >> 16) & 0xff);
      int new_blue = (int)(argb & 0xff);
      new_red += color_delta(g2r, green);
      new_red &= 0xff;
      new_blue += color_delta(g2b, green);
      new_blue += color_delta(r2b, (int8_t)new_red);
      new_blue &= 0xff;
      row[x] = (argb & 0xff00ff00u) | ((uint32_t)new_red << 16) | (uint32_t)new_blue;
    }
  }
}

static void inverse_subtract_green(uint32_t* data, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    const uint32_t argb = data[i];
    const uint32_t green = (argb >> 8) & 0xff;
    uint32_t rb = argb & 0x00ff00ffu;
    rb += (green << 16) | green;
    data[i] = (argb & 0xff00ff00u) | (rb & 0x00ff00ffu);
  }
}

/* Color indexing: `src` (packed width) -> `dst` (t->xsize wide). */
static void inverse_color_index(const Transform* t, const uint32_t* src, uint32_t* dst, int height) {
  const int width = t->xsize;
  const int bits_per_pixel = 8 >> t->bits;
  const int count_mask = (1 << t->bits) - 1;
  const uint32_t bit_mask = (1u << bits_per_pixel) - 1;
  int x, y;
  for (y = 0; y < height; ++y) {
    uint32_t packed = 0;
    for (x = 0; x < width; ++x) {
      if ((x & count_mask) == 0) packed = (*src++ >> 8) & 0xff;
      *dst++ = t->data[packed & bit_mask];
      packed >>= bits_per_pixel;
    }
  }
}

static int decode_image_stream(BitReader* br, int xsize, int ysize, int is_level0, uint32_t** out) {
  Transform transforms[4];
  int nt = 0, seen = 0, txsize = xsize, cache_bits = 0, num_groups = 1, i;
  uint32_t* meta = 0;
  int meta_bits = 0, meta_xsize = 0;
  HGroup* groups;
  uint32_t* data;
  if (is_level0) {
    while (lbr_read(br, 1)) {
      const int type = (int)lbr_read(br, 2);
      Transform* t;
      if (br->eos) return fail("VP8L data is truncated");
      if (seen & (1 << type)) return fail("VP8L data repeats a transform");
      seen |= 1 << type;
      t = &transforms[nt++];
      t->type = type;
      t->xsize = txsize;
      t->bits = 0;
      t->data = 0;
      if (type == 0 || type == 1) {
        t->bits = (int)lbr_read(br, 3) + 2;
        if (!decode_image_stream(br, div_round_up(txsize, t->bits), div_round_up(ysize, t->bits), 0,
                                 &t->data)) {
          return 0;
        }
      } else if (type == 3) {
        const int num_colors = (int)lbr_read(br, 8) + 1;
        uint32_t* pal;
        uint8_t* p;
        t->bits = num_colors > 16 ? 0 : num_colors > 4 ? 1 : num_colors > 2 ? 2 : 3;
        if (!decode_image_stream(br, num_colors, 1, 0, &pal)) return 0;
        t->data = (uint32_t*)wp_calloc(sizeof(uint32_t) * 256);
        if (!t->data) return 0;
        p = (uint8_t*)pal;
        for (i = 4; i < 4 * num_colors; ++i) p[i] = (uint8_t)(p[i] + p[i - 4]);
        for (i = 0; i < num_colors; ++i) t->data[i] = pal[i];
        txsize = div_round_up(txsize, t->bits);
      }
    }
  }
  if (lbr_read(br, 1)) {
    cache_bits = (int)lbr_read(br, 4);
    if (cache_bits < 1 || cache_bits > MAX_CACHE_BITS) return fail("VP8L data has an invalid colour cache size");
  }
  if (is_level0 && lbr_read(br, 1)) {
    int meta_ysize, n, used = 0;
    int* mapping;
    meta_bits = (int)lbr_read(br, 3) + 2;
    meta_xsize = div_round_up(txsize, meta_bits);
    meta_ysize = div_round_up(ysize, meta_bits);
    if (!decode_image_stream(br, meta_xsize, meta_ysize, 0, &meta)) return 0;
    n = meta_xsize * meta_ysize;
    for (i = 0; i < n; ++i) {
      const int idx = (int)((meta[i] >> 8) & 0xffff);
      if (idx >= num_groups) num_groups = idx + 1;
    }
    /* Only groups that the meta image uses are kept (the others are read and dropped). */
    mapping = (int*)wp_malloc(sizeof(int) * (size_t)num_groups);
    if (!mapping) return 0;
    for (i = 0; i < num_groups; ++i) mapping[i] = -1;
    for (i = 0; i < n; ++i) {
      const int idx = (int)((meta[i] >> 8) & 0xffff);
      if (mapping[idx] < 0) mapping[idx] = used++;
      meta[i] = (uint32_t)mapping[idx];
    }
    groups = (HGroup*)wp_calloc(sizeof(HGroup) * (size_t)used);
    if (!groups) return 0;
    for (i = 0; i < num_groups; ++i) {
      HGroup scratch;
      HGroup* g = mapping[i] >= 0 ? &groups[mapping[i]] : &scratch;
      int c;
      for (c = 0; c < 5; ++c) {
        const int alphabet = c == 0 ? NUM_LITERAL_CODES + NUM_LENGTH_CODES + (cache_bits ? 1 << cache_bits : 0)
                             : c == 4 ? NUM_DISTANCE_CODES : NUM_LITERAL_CODES;
        uint16_t* sorted = mapping[i] >= 0 ? (uint16_t*)wp_malloc(sizeof(uint16_t) * (size_t)alphabet)
                                           : g_sorted_scratch;
        if (!sorted || !read_huffman_code(br, alphabet, &g->codes[c], sorted)) return 0;
      }
    }
  } else {
    int c;
    groups = (HGroup*)wp_calloc(sizeof(HGroup));
    if (!groups) return 0;
    for (c = 0; c < 5; ++c) {
      const int alphabet = c == 0 ? NUM_LITERAL_CODES + NUM_LENGTH_CODES + (cache_bits ? 1 << cache_bits : 0)
                           : c == 4 ? NUM_DISTANCE_CODES : NUM_LITERAL_CODES;
      uint16_t* sorted = (uint16_t*)wp_malloc(sizeof(uint16_t) * (size_t)alphabet);
      if (!sorted || !read_huffman_code(br, alphabet, &groups->codes[c], sorted)) return 0;
    }
  }
  data = (uint32_t*)wp_malloc(sizeof(uint32_t) * (size_t)txsize * ysize);
  if (!data) return 0;
  if (!decode_pixels(br, data, txsize, ysize, groups, meta, meta_bits, meta_xsize, cache_bits)) return 0;
  for (i = nt - 1; i >= 0; --i) {
    const Transform* t = &transforms[i];
    const size_t n = (size_t)t->xsize * ysize;
    switch (t->type) {
      case 0: inverse_predictor(t, data, t->xsize, ysize); break;
      case 1: inverse_color(t, data, t->xsize, ysize); break;
      case 2: inverse_subtract_green(data, n); break;
      default: {
        uint32_t* wide = (uint32_t*)wp_malloc(sizeof(uint32_t) * n);
        if (!wide) return 0;
        inverse_color_index(t, data, wide, ysize);
        data = wide;
        break;
      }
    }
  }
  *out = data;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* ALPH chunk                                                                */

static int decode_alpha(const uint8_t* data, size_t size, uint8_t* rgba, int width, int height) {
  const size_t n = (size_t)width * height;
  uint8_t* alpha;
  int method, filter, pre, rsrv, y, x;
  if (size < 1) return fail("chunk ALPH is truncated");
  method = data[0] & 3;
  filter = (data[0] >> 2) & 3;
  pre = (data[0] >> 4) & 3;
  rsrv = (data[0] >> 6) & 3;
  if (method > 1 || pre > 1 || rsrv != 0) {
    if (fail_begin()) {
      msg_str("ALPH header byte is ");
      msg_int(data[0]);
      msg_str(" (unknown compression or reserved bits)");
    }
    return 0;
  }
  data++;
  size--;
  alpha = (uint8_t*)wp_malloc(n);
  if (!alpha) return 0;
  if (method == 0) {
    if (size < n) return fail("chunk ALPH is truncated");
    memcpy(alpha, data, n);
  } else {
    BitReader br;
    uint32_t* argb;
    size_t i;
    lbr_init(&br, data, size);
    if (!decode_image_stream(&br, width, height, 1, &argb)) return 0;
    for (i = 0; i < n; ++i) alpha[i] = (uint8_t)(argb[i] >> 8);
  }
  /* Unfilter in place, row by row (row 0 always predicts from the left). */
  if (filter != 0) {
    for (y = 0; y < height; ++y) {
      uint8_t* row = alpha + (size_t)y * width;
      const uint8_t* prev = y > 0 ? row - width : 0;
      if (!prev || filter == 1) {
        uint8_t pred = prev ? prev[0] : 0;
        for (x = 0; x < width; ++x) pred = row[x] = (uint8_t)(pred + row[x]);
      } else if (filter == 2) {
        for (x = 0; x < width; ++x) row[x] = (uint8_t)(prev[x] + row[x]);
      } else {
        int top = prev[0], top_left = top, left = top;
        for (x = 0; x < width; ++x) {
          top = prev[x];
          left = (uint8_t)(row[x] + clip255(left + top - top_left));
          top_left = top;
          row[x] = (uint8_t)left;
        }
      }
    }
  }
  for (x = 0; x < (int)n; ++x) rgba[4 * (size_t)x + 3] = alpha[x];
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Container                                                                 */

static inline uint32_t le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
static inline uint32_t le24(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16); }
static inline uint32_t le32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline int tag_is(const uint8_t* p, const char* t) {
  return p[0] == t[0] && p[1] == t[1] && p[2] == t[2] && p[3] == t[3];
}

static void fail_chunk(const uint8_t* tag, const char* what) {
  char name[5];
  int i;
  if (!fail_begin()) return;
  for (i = 0; i < 4; ++i) name[i] = (tag[i] >= 32 && tag[i] < 127) ? (char)tag[i] : '?';
  name[4] = 0;
  for (i = 3; i > 0 && name[i] == ' '; --i) name[i] = 0; /* "VP8 " */
  msg_str("chunk ");
  msg_str(name);
  msg_str(" ");
  msg_str(what);
}

typedef struct {
  const uint8_t* image; /* VP8 or VP8L payload */
  size_t image_size;
  int lossless;
  const uint8_t* alph;
  size_t alph_size;
} Parsed;

/* Parses the RIFF container and the image header: sets g_width, g_height,
 * g_has_alpha, g_animated, g_lossless. */
static int parse(const uint8_t* data, size_t size, Parsed* p) {
  size_t riff_end, pos;
  int have_vp8x = 0, canvas_w = 0, canvas_h = 0;
  memset(p, 0, sizeof(*p));
  if (size < 12) return fail("file is truncated (under 12 bytes)");
  if (!tag_is(data, "RIFF") || !tag_is(data + 8, "WEBP")) return fail("file is not a RIFF WEBP file");
  riff_end = (size_t)le32(data + 4) + 8;
  if (riff_end < 20) return fail("RIFF size is too small");
  if (riff_end > size) {
    if (fail_begin()) {
      msg_str("file is truncated (RIFF size says ");
      msg_int((long long)riff_end);
      msg_str(" bytes, have ");
      msg_int((long long)size);
      msg_str(")");
    }
    return 0;
  }
  pos = 12;
  while (pos < riff_end) {
    const uint8_t* tag = data + pos;
    size_t csize;
    const uint8_t* payload;
    if (riff_end - pos < 8) return fail("file is truncated (chunk header)");
    csize = le32(data + pos + 4);
    payload = data + pos + 8;
    if (csize > riff_end - pos - 8) {
      fail_chunk(tag, "is truncated");
      return 0;
    }
    if (tag_is(tag, "VP8X")) {
      uint32_t flags;
      if (pos != 12) {
        fail_chunk(tag, "is not first");
        return 0;
      }
      if (csize < 10) {
        fail_chunk(tag, "is truncated");
        return 0;
      }
      flags = payload[0];
      have_vp8x = 1;
      g_has_alpha = (flags & 0x10) != 0;
      g_animated = (flags & 0x02) != 0;
      canvas_w = (int)le24(payload + 4) + 1;
      canvas_h = (int)le24(payload + 7) + 1;
      g_width = canvas_w;
      g_height = canvas_h;
    } else if (tag_is(tag, "ANIM") || tag_is(tag, "ANMF")) {
      g_animated = 1;
    } else if (tag_is(tag, "ALPH")) {
      if (!p->alph) {
        p->alph = payload;
        p->alph_size = csize;
      }
    } else if (tag_is(tag, "VP8 ") || tag_is(tag, "VP8L")) {
      p->image = payload;
      p->image_size = csize;
      p->lossless = tag[3] == 'L';
      break;
    }
    pos += 8 + csize + (csize & 1);
  }
  if (g_animated) return fail("file is animated (animated WebP is not supported; only still images)");
  if (!p->image) return fail("file has no VP8 or VP8L image chunk");
  g_lossless = p->lossless;
  if (p->lossless) {
    uint32_t bits;
    if (p->image_size < 5) return fail("chunk VP8L is truncated");
    if (p->image[0] != 0x2f) return fail("chunk VP8L has a bad signature");
    bits = le32(p->image + 1);
    if ((bits >> 29) != 0) return fail("VP8L version is not 0");
    g_width = (int)(bits & 0x3fff) + 1;
    g_height = (int)((bits >> 14) & 0x3fff) + 1;
    if (!have_vp8x) g_has_alpha = (bits >> 28) & 1;
  } else {
    const uint8_t* d = p->image;
    if (p->image_size < 10) return fail("chunk VP8 is truncated");
    if (d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a) return fail("chunk VP8 has a bad start code");
    g_width = (int)(le16(d + 6) & 0x3fff);
    g_height = (int)(le16(d + 8) & 0x3fff);
    if (g_width == 0 || g_height == 0) return fail("VP8 frame size is 0");
  }
  if (have_vp8x && (g_width != canvas_w || g_height != canvas_h)) {
    return fail("image size differs from the VP8X canvas size");
  }
  return 1;
}

/* Forgets the previous image: the next allocations reuse the same memory. */
EXPORT void wp_reset(void) {
  g_heap = 0;
  g_failed = 0;
  g_msg_len = 0;
  g_msg[0] = 0;
  g_width = g_height = g_channels = g_has_alpha = 0;
  g_animated = g_lossless = 0;
  g_pixels = 0;
}
EXPORT uint8_t* wp_alloc(uint32_t n) { return (uint8_t*)wp_malloc(n ? n : 1); }
EXPORT int wp_width(void) { return g_width; }
EXPORT int wp_height(void) { return g_height; }
EXPORT int wp_channels(void) { return g_channels; }
EXPORT int wp_lossless(void) { return g_lossless; }
EXPORT uint8_t* wp_pixels(void) { return g_pixels; }
EXPORT const char* wp_error(void) { return g_msg; }

/* Reads the container and image header only (size and alpha). */
EXPORT int wp_header(const uint8_t* data, uint32_t size) {
  Parsed p;
  if (!parse(data, size, &p)) return -1;
  g_channels = g_has_alpha ? 4 : 3;
  return 0;
}

EXPORT int wp_decode(const uint8_t* data, uint32_t size, double max_pixels) {
  Parsed p;
  size_t n;
  uint8_t* rgba;
  if (!parse(data, size, &p)) return -1;
  if ((double)g_width * (double)g_height > max_pixels) {
    if (fail_begin()) {
      msg_str("size is ");
      msg_int(g_width);
      msg_str("x");
      msg_int(g_height);
      msg_str(", over ");
      msg_int((long long)max_pixels);
      msg_str(" pixels");
    }
    return -1;
  }
  n = (size_t)g_width * g_height;
  g_channels = g_has_alpha ? 4 : 3;
  if (p.lossless) {
    BitReader br;
    uint32_t* argb;
    size_t i;
    lbr_init(&br, p.image + 5, p.image_size - 5);
    if (!decode_image_stream(&br, g_width, g_height, 1, &argb)) return -1;
    rgba = (uint8_t*)argb; /* converted in place: ARGB word -> R,G,B(,A) bytes */
    for (i = 0; i < n; ++i) {
      const uint32_t px = argb[i];
      uint8_t* o = rgba + i * g_channels;
      o[0] = (uint8_t)(px >> 16);
      o[1] = (uint8_t)(px >> 8);
      o[2] = (uint8_t)px;
      if (g_channels == 4) o[3] = (uint8_t)(px >> 24);
    }
  } else {
    rgba = (uint8_t*)wp_malloc(n * g_channels);
    if (!rgba) return -1;
    if (!vp8_decode(p.image, p.image_size, rgba, g_channels)) return -1;
    if (g_channels == 4) {
      if (p.alph) {
        if (!decode_alpha(p.alph, p.alph_size, rgba, g_width, g_height)) return -1;
      } else {
        size_t i;
        for (i = 0; i < n; ++i) rgba[4 * i + 3] = 255;
      }
    }
  }
  g_pixels = rgba;
  return 0;
}
