/* The few system calls Node lacks, as a tiny N-API addon: mounts, device nodes,
 * extended attributes and SOCK_SEQPACKET unix sockets (conmon's attach socket). */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <pthread.h>
#include <net/if.h>

#define MAX_STR 4096

static napi_value throw_errno(napi_env env, int err, const char *call, const char *path) {
  char msg[MAX_STR + 128];
  const char *code = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s %s: %s", call, path ? path : "", strerror(err));
  napi_value ecode, emsg, error, eno, syscall;
  napi_create_string_utf8(env, code ? code : "EUNKNOWN", NAPI_AUTO_LENGTH, &ecode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &emsg);
  napi_create_error(env, ecode, emsg, &error);
  napi_create_int32(env, -err, &eno);
  napi_set_named_property(env, error, "errno", eno);
  napi_create_string_utf8(env, call, NAPI_AUTO_LENGTH, &syscall);
  napi_set_named_property(env, error, "syscall", syscall);
  if (path) {
    napi_value p;
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
    napi_set_named_property(env, error, "path", p);
  }
  napi_throw(env, error);
  return NULL;
}

/* Reads argument i as a string into buf; an absent/null argument gives NULL. */
static const char *arg_str(napi_env env, napi_value v, char *buf) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_string) return NULL;
  size_t len;
  napi_get_value_string_utf8(env, v, buf, MAX_STR, &len);
  return buf;
}

static int64_t arg_int(napi_env env, napi_value v) {
  int64_t n = 0;
  napi_get_value_int64(env, v, &n);
  return n;
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char src[MAX_STR], tgt[MAX_STR], fst[MAX_STR], data[MAX_STR];
  const char *s = arg_str(env, argv[0], src), *t = arg_str(env, argv[1], tgt),
             *f = arg_str(env, argv[2], fst), *d = arg_str(env, argv[4], data);
  unsigned long flags = (unsigned long)arg_int(env, argv[3]);
  if (mount(s, t, f, flags, d) != 0) return throw_errno(env, errno, "mount", t);
  return NULL;
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char tgt[MAX_STR];
  const char *t = arg_str(env, argv[0], tgt);
  if (umount2(t, (int)arg_int(env, argv[1])) != 0) return throw_errno(env, errno, "umount2", t);
  return NULL;
}

/* mknod(path, mode, major, minor) — mode includes the file type bits */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[MAX_STR];
  const char *p = arg_str(env, argv[0], path);
  mode_t mode = (mode_t)arg_int(env, argv[1]);
  dev_t dev = makedev((unsigned)arg_int(env, argv[2]), (unsigned)arg_int(env, argv[3]));
  if (mknod(p, mode, dev) != 0) return throw_errno(env, errno, "mknod", p);
  return NULL;
}

/* lsetxattr(path, name, value: Buffer) — never follows a symlink */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[MAX_STR], name[MAX_STR];
  const char *p = arg_str(env, argv[0], path), *n = arg_str(env, argv[1], name);
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[2], &data, &len);
  if (lsetxattr(p, n, data, len, 0) != 0) return throw_errno(env, errno, "lsetxattr", p);
  return NULL;
}

/* lgetxattr(path, name) → Buffer, or null when the attribute is absent */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[MAX_STR], name[MAX_STR];
  const char *p = arg_str(env, argv[0], path), *n = arg_str(env, argv[1], name);
  char buf[65536];
  ssize_t len = lgetxattr(p, n, buf, sizeof buf);
  if (len < 0) {
    if (errno == ENODATA) { napi_get_null(env, &result); return result; }
    return throw_errno(env, errno, "lgetxattr", p);
  }
  void *out;
  napi_create_buffer_copy(env, (size_t)len, buf, &out, &result);
  return result;
}

/* llistxattr(path) → string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[MAX_STR];
  const char *p = arg_str(env, argv[0], path);
  char buf[65536];
  ssize_t len = llistxattr(p, buf, sizeof buf);
  if (len < 0) return throw_errno(env, errno, "llistxattr", p);
  napi_create_array(env, &result);
  uint32_t i = 0;
  for (ssize_t off = 0; off < len; off += (ssize_t)strlen(buf + off) + 1) {
    napi_value s;
    napi_create_string_utf8(env, buf + off, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, result, i++, s);
  }
  return result;
}

/* seqpacketConnect(path) → fd of a connected, blocking AF_UNIX SOCK_SEQPACKET socket */
static napi_value js_seqpacket_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[MAX_STR];
  const char *p = arg_str(env, argv[0], path);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (!p || strlen(p) >= sizeof addr.sun_path) return throw_errno(env, ENAMETOOLONG, "connect", p);
  strcpy(addr.sun_path, p);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", p);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "connect", p);
  }
  napi_create_int32(env, fd, &result);
  return result;
}

/* shutdown(fd, how) */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (shutdown((int)arg_int(env, argv[0]), (int)arg_int(env, argv[1])) != 0 && errno != ENOTCONN)
    return throw_errno(env, errno, "shutdown", NULL);
  return NULL;
}

/* A new network namespace, pinned by a bind mount on `path` (an existing empty file), with
 * lo up. Done on a short-lived thread: unshare(CLONE_NEWNET) moves only the calling thread,
 * so Node's own threads never change namespace. */
struct netns_job { const char *path; int err; const char *call; };

static void *netns_thread(void *arg) {
  struct netns_job *job = arg;
  if (unshare(CLONE_NEWNET) != 0) { job->err = errno; job->call = "unshare"; return NULL; }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) { job->err = errno; job->call = "socket"; return NULL; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) { job->err = errno; job->call = "ioctl(lo up)"; }
  } else { job->err = errno; job->call = "ioctl(lo)"; }
  close(sock);
  if (job->err) return NULL;
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)gettid());
  if (mount(self, job->path, NULL, MS_BIND, NULL) != 0) { job->err = errno; job->call = "mount"; }
  return NULL;
}

/* netnsCreate(path) */
static napi_value js_netns_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[MAX_STR];
  struct netns_job job = { .path = arg_str(env, argv[0], path), .err = 0, .call = NULL };
  pthread_t t;
  int rc = pthread_create(&t, NULL, netns_thread, &job);
  if (rc != 0) return throw_errno(env, rc, "pthread_create", job.path);
  pthread_join(t, NULL);
  if (job.err) return throw_errno(env, job.err, job.call, job.path);
  return NULL;
}

#define EXPORT(name, fn)                                              \
  do {                                                                \
    napi_value f;                                                     \
    napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);  \
    napi_set_named_property(env, exports, name, f);                   \
  } while (0)

static napi_value init(napi_env env, napi_value exports) {
  EXPORT("mount", js_mount);
  EXPORT("umount2", js_umount2);
  EXPORT("mknod", js_mknod);
  EXPORT("lsetxattr", js_lsetxattr);
  EXPORT("lgetxattr", js_lgetxattr);
  EXPORT("llistxattr", js_llistxattr);
  EXPORT("seqpacketConnect", js_seqpacket_connect);
  EXPORT("shutdown", js_shutdown);
  EXPORT("netnsCreate", js_netns_create);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
