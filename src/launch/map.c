/* The launcher's addon (build/launch.node): maps berth's bundle and its code cache read-only
 * instead of reading them. Read, the 1 MB bundle and its cache cost every command about 3 ms
 * here (fresh pages for a copy of each, then V8's own copy of the source); mapped, V8 reads
 * only the pages it uses (with a code cache, almost none of the source).
 * A mapping shows later writes to the file, and a read past a truncation is SIGBUS: berth's
 * build replaces these files by rename, never in place, so a running berth keeps its own. */
#define NAPI_EXPERIMENTAL /* node_api_create_external_string_latin1 (node >= 20.4) */
#include <node_api.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file named by the first argument, mapped; NULL when it cannot be (or is empty). */
static void *map_arg(napi_env env, napi_callback_info info, size_t *size) {
  size_t argc = 1, len;
  napi_value argv[1];
  char path[4096];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "a path is expected");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > 0) p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return NULL;
  *size = st.st_size;
  return p;
}

/* mapLatin1(path): the file as a one-byte string over the mapping (kept for the process's life). */
static napi_value js_map_latin1(napi_env env, napi_callback_info info) {
  size_t size;
  char *p = map_arg(env, info, &size);
  napi_value r;
  bool copied;
  if (!p || node_api_create_external_string_latin1(env, p, size, NULL, NULL, &r, &copied) != napi_ok) napi_get_undefined(env, &r);
  return r;
}

/* mapBuffer(path): the file as a Buffer over the mapping, or undefined. */
static napi_value js_map_buffer(napi_env env, napi_callback_info info) {
  size_t size;
  void *p = map_arg(env, info, &size);
  napi_value r;
  if (!p || napi_create_external_buffer(env, size, p, NULL, NULL, &r) != napi_ok) napi_get_undefined(env, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value f;
  napi_create_function(env, "mapLatin1", NAPI_AUTO_LENGTH, js_map_latin1, NULL, &f);
  napi_set_named_property(env, exports, "mapLatin1", f);
  napi_create_function(env, "mapBuffer", NAPI_AUTO_LENGTH, js_map_buffer, NULL, &f);
  napi_set_named_property(env, exports, "mapBuffer", f);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
