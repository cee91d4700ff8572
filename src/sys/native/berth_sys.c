/* The few system calls Node lacks, as a tiny N-API addon: mounts, device nodes,
 * extended attributes and SOCK_SEQPACKET unix sockets (conmon's attach socket), polled
 * without blocking by libuv on Node's own event loop; TCP sockets made inside another
 * network namespace; plus small file work (a tree's removal, a small file's read) done in
 * one threadpool step; child processes started with posix_spawn (no fork of this big
 * process) and reaped through a pidfd polled on the event loop. */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
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
#include <dirent.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <pthread.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_STR 4096

static napi_value errno_error(napi_env env, int err, const char *call, const char *path) {
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
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *call, const char *path) {
  napi_throw(env, errno_error(env, err, call, path));
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

/* Work that changes per-thread state (cwd, namespaces) runs on a short-lived thread of its
 * own, never on the main thread or libuv's pool; its promise settles on the event loop. */
struct thread_job {
  void (*work)(struct thread_job *);
  int err;
  const char *call, *where;
  int fd, returns_fd; /* a job that returns_fd resolves with fd (closed if nobody takes it) */
  int pid;            /* with returns_fd and a pid: resolves with [pid, fd] */
  napi_deferred deferred;
  napi_threadsafe_function done;
};

static void *job_thread(void *arg) {
  struct thread_job *j = arg;
  j->work(j);
  /* j is freed on the main thread once the call is made: take the handle out first. */
  napi_threadsafe_function done = j->done;
  napi_call_threadsafe_function(done, j, napi_tsfn_blocking);
  napi_release_threadsafe_function(done, napi_tsfn_release);
  return NULL;
}

static void job_settle(napi_env env, napi_value fn, void *context, void *data) {
  struct thread_job *j = data;
  if (env) {
    if (j->err) napi_reject_deferred(env, j->deferred, errno_error(env, j->err, j->call, j->where));
    else {
      napi_value value;
      if (j->returns_fd && j->pid > 0) {
        napi_value pid, fd;
        napi_create_array_with_length(env, 2, &value);
        napi_create_int32(env, j->pid, &pid);
        napi_create_int32(env, j->fd, &fd);
        napi_set_element(env, value, 0, pid);
        napi_set_element(env, value, 1, fd);
      } else if (j->returns_fd) napi_create_int32(env, j->fd, &value);
      else napi_get_undefined(env, &value);
      napi_resolve_deferred(env, j->deferred, value);
    }
  } else if (j->returns_fd && !j->err) close(j->fd);
  free(j);
}

/* Starts j (heap-allocated, freed when settled) and returns its promise. */
static napi_value job_start(napi_env env, struct thread_job *j, const char *what) {
  napi_value promise, name;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, job_settle, &j->done) != napi_ok) {
    free(j);
    return throw_errno(env, EAGAIN, "napi_create_threadsafe_function", NULL);
  }
  napi_create_promise(env, &j->deferred, &promise);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = pthread_create(&t, &attr, job_thread, j);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    napi_reject_deferred(env, j->deferred, errno_error(env, rc, "pthread_create", NULL));
    napi_release_threadsafe_function(j->done, napi_tsfn_release);
    free(j);
  }
  return promise;
}

/* mountAt(dir, source, target, fstype, flags, data) → Promise: mount(2) with relative
 * paths in source and data resolved against dir, on a thread that unshare(CLONE_FS)s
 * before its chdir, so no other thread's cwd ever changes. */
struct mount_job {
  struct thread_job job;
  char dir[MAX_STR], src[MAX_STR], tgt[MAX_STR], fst[MAX_STR], data[MAX_STR];
  const char *s, *f, *d;
  unsigned long flags;
};

static void mount_work(struct thread_job *job) {
  struct mount_job *j = (struct mount_job *)job;
  if (unshare(CLONE_FS) != 0) { job->err = errno; job->call = "unshare"; }
  else if (chdir(j->dir) != 0) { job->err = errno; job->call = "chdir"; job->where = j->dir; }
  else if (mount(j->s, j->tgt, j->f, j->flags, j->d) != 0) { job->err = errno; job->call = "mount"; job->where = j->tgt; }
}

static napi_value js_mount_at(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct mount_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "mountAt", NULL);
  const char *dir = arg_str(env, argv[0], j->dir), *tgt = arg_str(env, argv[2], j->tgt);
  j->s = arg_str(env, argv[1], j->src);
  j->f = arg_str(env, argv[3], j->fst);
  j->flags = (unsigned long)arg_int(env, argv[4]);
  j->d = arg_str(env, argv[5], j->data);
  if (!dir || !tgt) { free(j); return throw_errno(env, EINVAL, "mountAt", NULL); }
  j->job.work = mount_work;
  return job_start(env, &j->job, "berth:mount");
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

/* mallocTrim() → whether memory went back: free heap pages that a stream's buffers left
 * between live ones stay resident until trimmed (glibc returns only the heap's top). */
static napi_value js_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_get_boolean(env, malloc_trim(0) == 1, &r);
  return r;
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

/* Readiness of a non-blocking fd, reported on the event loop by a uv_poll_t: no thread
 * waits on the fd, so any number of sockets cost no threadpool threads. */
struct env_state { int gone; };

struct poller {
  uv_poll_t handle;
  napi_env env;
  struct env_state *state; /* whether env may still be called (a worker's can end first) */
  napi_ref on_ready;      /* (events, status) */
  napi_ref on_closed;     /* () — set by pollClose */
  napi_async_context ctx;
  int fd;
  int closing, closed, finalized;
};

static void call_js(struct poller *p, napi_ref ref, size_t argc, napi_value *argv) {
  napi_value fn, recv, result;
  if (napi_get_reference_value(p->env, ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(p->env, &recv);
  /* make_callback runs the microtasks and nextTicks the callback queued, as for any I/O. */
  if (napi_make_callback(p->env, p->ctx, recv, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(p->env, &err);
    napi_fatal_exception(p->env, err);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct poller *p = h->data;
  if (p->closing || p->state->gone) return;
  napi_handle_scope scope;
  napi_open_handle_scope(p->env, &scope);
  napi_value argv[2];
  napi_create_int32(p->env, status < 0 ? 0 : events, &argv[0]);
  napi_create_int32(p->env, status, &argv[1]);
  call_js(p, p->on_ready, 2, argv);
  napi_close_handle_scope(p->env, scope);
}

/* The fd is closed only here, after libuv has let go of it (it could be reused otherwise). */
static void on_poll_closed(uv_handle_t *h) {
  struct poller *p = h->data;
  close(p->fd);
  p->closed = 1;
  if (p->state->gone) {
    if (p->finalized) free(p);
    return;
  }
  if (p->on_closed) {
    napi_handle_scope scope;
    napi_open_handle_scope(p->env, &scope);
    call_js(p, p->on_closed, 0, NULL);
    napi_close_handle_scope(p->env, scope);
    napi_delete_reference(p->env, p->on_closed);
  }
  napi_delete_reference(p->env, p->on_ready);
  napi_async_destroy(p->env, p->ctx);
  if (p->finalized) free(p);
}

/* While polling, the callback's reference keeps the handle object alive, so this runs
 * after pollClose, or when the environment ends (an open fd then dies with the process). */
static void poller_finalize(napi_env env, void *data, void *hint) {
  struct poller *p = data;
  p->finalized = 1;
  if (p->closed) free(p);
}

static struct poller *arg_poller(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* pollOpen(fd, onReady) → handle: makes fd non-blocking; the poller now owns it. */
static napi_value js_poll_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result, name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd = (int)arg_int(env, argv[0]);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return throw_errno(env, errno, "fcntl", NULL);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, EINVAL, "napi_get_uv_event_loop", NULL);
  struct poller *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "pollOpen", NULL);
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc != 0) { free(p); return throw_errno(env, -rc, "uv_poll_init", NULL); }
  p->handle.data = p;
  p->env = env;
  napi_get_instance_data(env, (void **)&p->state);
  p->fd = fd;
  napi_create_reference(env, argv[1], 1, &p->on_ready);
  napi_create_string_utf8(env, "berth:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->ctx);
  napi_create_external(env, p, poller_finalize, NULL, &result);
  return result;
}

/* pollWatch(handle, events): UV_READABLE | UV_WRITABLE; 0 stops watching. */
static napi_value js_poll_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  if (!p || p->closing) return throw_errno(env, EBADF, "pollWatch", NULL);
  int events = (int)arg_int(env, argv[1]) & (UV_READABLE | UV_WRITABLE);
  int rc = events ? uv_poll_start(&p->handle, events, on_poll) : uv_poll_stop(&p->handle);
  if (rc != 0) return throw_errno(env, -rc, "uv_poll_start", NULL);
  return NULL;
}

/* pollClose(handle, onClosed): stops polling, then closes the fd and calls onClosed. */
static napi_value js_poll_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  if (!p || p->closing) return throw_errno(env, EBADF, "pollClose", NULL);
  p->closing = 1;
  napi_create_reference(env, argv[1], 1, &p->on_closed);
  uv_close((uv_handle_t *)&p->handle, on_poll_closed);
  return NULL;
}

/* recvPacket(handle, buf) → length of one packet, 0 at end of stream, -EAGAIN when none is
 * waiting. A SEQPACKET recv never returns part of one packet and part of the next. */
static napi_value js_recv_packet(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  if (!p || p->closing) return throw_errno(env, EBADF, "recv", NULL);
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[1], &data, &len);
  ssize_t n;
  do n = recv(p->fd, data, len, 0); while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) n = -EAGAIN;
    else return throw_errno(env, errno, "recv", NULL);
  }
  napi_create_int32(env, (int32_t)n, &result);
  return result;
}

/* sendPacket(handle, buf) → bytes sent (one packet) or -EAGAIN when the socket is full. */
static napi_value js_send_packet(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  if (!p || p->closing) return throw_errno(env, EBADF, "send", NULL);
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[1], &data, &len);
  ssize_t n;
  do n = send(p->fd, data, len, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) n = -EAGAIN;
    else return throw_errno(env, errno, "send", NULL);
  }
  napi_create_int32(env, (int32_t)n, &result);
  return result;
}

/* pollShutdown(handle, how): shutdown(2) on the poller's fd. */
static napi_value js_poll_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  if (!p || p->closing) return throw_errno(env, EBADF, "shutdown", NULL);
  if (shutdown(p->fd, (int)arg_int(env, argv[1])) != 0 && errno != ENOTCONN) return throw_errno(env, errno, "shutdown", NULL);
  return NULL;
}

/* netnsCreate(path) → Promise: a new network namespace, pinned by a bind mount on `path`
 * (an existing empty file), with lo up. unshare(CLONE_NEWNET) moves only the calling
 * thread, a thread of the job's own, so Node's threads never change namespace. */
struct netns_job {
  struct thread_job job;
  char path[MAX_STR];
};

static void netns_work(struct thread_job *job) {
  struct netns_job *j = (struct netns_job *)job;
  job->where = j->path;
  if (unshare(CLONE_NEWNET) != 0) { job->err = errno; job->call = "unshare"; return; }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) { job->err = errno; job->call = "socket"; return; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) { job->err = errno; job->call = "ioctl(lo up)"; }
  } else { job->err = errno; job->call = "ioctl(lo)"; }
  close(sock);
  if (job->err) return;
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)gettid());
  if (mount(self, j->path, NULL, MS_BIND, NULL) != 0) { job->err = errno; job->call = "mount"; }
}

static napi_value js_netns_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct netns_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "netnsCreate", NULL);
  if (!arg_str(env, argv[0], j->path)) { free(j); return throw_errno(env, EINVAL, "netnsCreate", NULL); }
  j->job.work = netns_work;
  return job_start(env, &j->job, "berth:netns");
}

/* dialInNetns(netnsPath, host, port, timeoutMs) → Promise<fd> of a TCP socket connected to
 * host:port inside the network namespace at netnsPath. A socket belongs to the namespace
 * it was created in, so the thread enters the namespace only for socket(2) and goes back
 * before connecting; the thread is the job's own and ends with it, so no thread of Node's
 * ever changes namespace (a pool thread left in a pod's namespace would be reused). */
struct dial_job {
  struct thread_job job;
  char path[MAX_STR], host[64], where[MAX_STR + 96];
  int port, timeout_ms;
};

/* Creates the socket inside the namespace; returns the fd or -1 (job->err set). */
static int socket_in_netns(struct thread_job *job, const char *path, int family) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { job->err = errno; job->call = "open"; return -1; }
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) { job->err = errno; job->call = "open"; close(self); return -1; }
  int fd = -1;
  if (setns(ns, CLONE_NEWNET) != 0) { job->err = errno; job->call = "setns"; }
  else {
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) { job->err = errno; job->call = "socket"; }
    /* Back at once: the thread need not outlive the job inside the pod (it would keep the
     * namespace alive a little longer); the thread ends soon, so a failure costs only this dial. */
    if (setns(self, CLONE_NEWNET) != 0) {
      if (fd >= 0) close(fd);
      fd = -1;
      job->err = errno;
      job->call = "setns (back)";
    }
  }
  close(ns);
  close(self);
  return fd;
}

static void dial_work(struct thread_job *job) {
  struct dial_job *j = (struct dial_job *)job;
  struct sockaddr_storage addr;
  socklen_t len;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
  int family = strchr(j->host, ':') ? AF_INET6 : AF_INET;
  snprintf(j->where, sizeof j->where, family == AF_INET6 ? "[%s]:%d in %s" : "%s:%d in %s", j->host, j->port, j->path);
  job->where = j->where;
  if (family == AF_INET6) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)j->port);
    len = sizeof *a6;
    if (inet_pton(AF_INET6, j->host, &a6->sin6_addr) != 1) { job->err = EINVAL; job->call = "inet_pton"; return; }
  } else {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)j->port);
    len = sizeof *a4;
    if (inet_pton(AF_INET, j->host, &a4->sin_addr) != 1) { job->err = EINVAL; job->call = "inet_pton"; return; }
  }
  int fd = socket_in_netns(job, j->path, family);
  if (fd < 0) return;
  job->call = "connect";
  if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
    if (errno != EINPROGRESS) { job->err = errno; close(fd); return; }
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int rc;
    do rc = poll(&p, 1, j->timeout_ms); while (rc < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (rc == 0) soerr = ETIMEDOUT;
    else if (rc < 0) soerr = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    if (soerr) { job->err = soerr; close(fd); return; }
  }
  job->fd = fd;
}

static napi_value js_dial_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct dial_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "dialInNetns", NULL);
  char host[MAX_STR];
  const char *h = arg_str(env, argv[1], host);
  j->port = (int)arg_int(env, argv[2]);
  j->timeout_ms = (int)arg_int(env, argv[3]);
  if (!arg_str(env, argv[0], j->path) || !h || strlen(h) >= sizeof j->host || j->port < 1 || j->port > 65535 || j->timeout_ms < 1) {
    free(j);
    return throw_errno(env, EINVAL, "dialInNetns", NULL);
  }
  strcpy(j->host, h);
  j->job.work = dial_work;
  j->job.returns_fd = 1;
  j->job.fd = -1;
  return job_start(env, &j->job, "berth:dial");
}

/* File work a caller would otherwise do in many small steps, done in one step on libuv's
 * threadpool: one round trip to a pool thread instead of one per system call. */
struct pool_job {
  napi_async_work work;
  napi_deferred deferred;
  int err;
  const char *call;
  char where[MAX_STR];
};

static void pool_fail(struct pool_job *j, int err, const char *call, const char *where) {
  if (j->err) return;
  j->err = err;
  j->call = call;
  if (where != j->where) snprintf(j->where, sizeof j->where, "%s", where);
}

/* Queues j (heap-allocated, its first member a pool_job; freed by complete) and returns its promise. */
static napi_value pool_start(napi_env env, struct pool_job *j, const char *what, napi_async_execute_callback execute, napi_async_complete_callback complete) {
  napi_value promise, name;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok) {
    free(j);
    return throw_errno(env, EAGAIN, "napi_create_async_work", NULL);
  }
  napi_create_promise(env, &j->deferred, &promise);
  napi_queue_async_work(env, j->work);
  return promise;
}

/* Settles j: rejected with its error, else resolved with value (undefined when NULL). */
static void pool_settle(napi_env env, struct pool_job *j, napi_value value) {
  if (env) {
    if (j->err) napi_reject_deferred(env, j->deferred, errno_error(env, j->err, j->call, j->where));
    else {
      if (!value) napi_get_undefined(env, &value);
      napi_resolve_deferred(env, j->deferred, value);
    }
    napi_delete_async_work(env, j->work);
  }
}

/* removePaths(paths: string[]) → Promise: each path removed like `rm -rf` (symlinks are
 * removed, never followed; a missing path is not an error). */
struct remove_job {
  struct pool_job job;
  size_t count;
  char *paths; /* count NUL-terminated strings, back to back */
};

/* Removes name (relative to dirfd), recursing into directories through their fds. */
static void remove_at(struct remove_job *j, int dirfd, const char *name, const char *path) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR && errno != EPERM) { pool_fail(&j->job, errno, "unlink", path); return; }
  /* An empty directory goes at once (even one this process may not list). */
  if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) return;
  if (errno != ENOTEMPTY && errno != EEXIST) { pool_fail(&j->job, errno, "rmdir", path); return; }
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) pool_fail(&j->job, errno, "open", path);
    return;
  }
  DIR *d = fdopendir(fd);
  if (!d) { pool_fail(&j->job, errno, "fdopendir", path); close(fd); return; }
  struct dirent *e;
  char sub[MAX_STR];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    remove_at(j, fd, e->d_name, sub);
  }
  closedir(d);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) pool_fail(&j->job, errno, "rmdir", path);
}

static void remove_execute(napi_env env, void *data) {
  struct remove_job *j = data;
  const char *p = j->paths;
  for (size_t i = 0; i < j->count; i++, p += strlen(p) + 1) remove_at(j, AT_FDCWD, p, p);
}

static void remove_complete(napi_env env, napi_status status, void *data) {
  struct remove_job *j = data;
  pool_settle(env, &j->job, NULL);
  free(j->paths);
  free(j);
}

static napi_value js_remove_paths(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t n = 0;
  if (napi_get_array_length(env, argv[0], &n) != napi_ok) return throw_errno(env, EINVAL, "removePaths", NULL);
  struct remove_job *j = calloc(1, sizeof *j);
  char *paths = malloc((size_t)n * MAX_STR + 1);
  if (!j || !paths) { free(j); free(paths); return throw_errno(env, ENOMEM, "removePaths", NULL); }
  size_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    size_t len = 0;
    napi_get_element(env, argv[0], i, &v);
    if (napi_get_value_string_utf8(env, v, paths + off, MAX_STR, &len) != napi_ok || len == 0 || len >= MAX_STR - 1) {
      free(j); free(paths);
      return throw_errno(env, EINVAL, "removePaths", NULL);
    }
    off += len + 1;
  }
  j->count = n;
  j->paths = paths;
  return pool_start(env, &j->job, "berth:remove", remove_execute, remove_complete);
}

/* readSmallFile(path, max) → Promise<Buffer | null>: the file's first max bytes read in
 * one step (open, read, close); null when the file does not exist. */
struct read_job {
  struct pool_job job;
  size_t max, len;
  int missing;
  char *buf;
};

static void read_execute(napi_env env, void *data) {
  struct read_job *j = data;
  int fd = open(j->job.where, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) j->missing = 1;
    else j->job.err = errno, j->job.call = "open";
    return;
  }
  while (j->len < j->max) {
    ssize_t n = read(fd, j->buf + j->len, j->max - j->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { j->job.err = errno; j->job.call = "read"; break; }
    if (n == 0) break;
    j->len += (size_t)n;
  }
  close(fd);
}

static void read_complete(napi_env env, napi_status status, void *data) {
  struct read_job *j = data;
  napi_value value = NULL;
  if (env && !j->job.err) {
    if (j->missing) napi_get_null(env, &value);
    else napi_create_buffer_copy(env, j->len, j->buf, NULL, &value);
  }
  pool_settle(env, &j->job, value);
  free(j->buf);
  free(j);
}

static napi_value js_read_small_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t max = arg_int(env, argv[1]);
  if (max <= 0 || max > (1 << 20)) return throw_errno(env, EINVAL, "readSmallFile", NULL);
  struct read_job *j = calloc(1, sizeof *j);
  char *buf = malloc((size_t)max);
  if (!j || !buf) { free(j); free(buf); return throw_errno(env, ENOMEM, "readSmallFile", NULL); }
  if (!arg_str(env, argv[0], j->job.where)) { free(j); free(buf); return throw_errno(env, EINVAL, "readSmallFile", NULL); }
  j->max = (size_t)max;
  j->buf = buf;
  return pool_start(env, &j->job, "berth:read", read_execute, read_complete);
}

/* seqpacketConnect(path) → Promise<fd> of a connected AF_UNIX SOCK_SEQPACKET socket
 * (pollOpen makes it non-blocking). The connect runs on the pool: it waits while the
 * listener's backlog is full. A path longer than sun_path is reached through its
 * directory's fd (/proc/self/fd/N/name). */
struct connect_job {
  struct pool_job job;
  int fd;
};

static void connect_execute(napi_env env, void *data) {
  struct connect_job *j = data;
  const char *path = j->job.where;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int dirfd = -1;
  if (strlen(path) < sizeof addr.sun_path) strcpy(addr.sun_path, path);
  else {
    char dir[MAX_STR];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) { pool_fail(&j->job, ENAMETOOLONG, "connect", path); return; }
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) { pool_fail(&j->job, errno, "open", dir); return; }
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd, slash + 1);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) { close(dirfd); pool_fail(&j->job, ENAMETOOLONG, "connect", path); return; }
  }
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) pool_fail(&j->job, errno, "socket", path);
  else if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    pool_fail(&j->job, errno, "connect", path);
    close(fd);
  } else j->fd = fd;
  if (dirfd >= 0) close(dirfd);
}

static void connect_complete(napi_env env, napi_status status, void *data) {
  struct connect_job *j = data;
  napi_value value = NULL;
  if (env && !j->job.err) napi_create_int32(env, j->fd, &value);
  else if (!env && !j->job.err) close(j->fd);
  pool_settle(env, &j->job, value);
  free(j);
}

static napi_value js_seqpacket_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct connect_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "seqpacketConnect", NULL);
  if (!arg_str(env, argv[0], j->job.where)) { free(j); return throw_errno(env, EINVAL, "seqpacketConnect", NULL); }
  return pool_start(env, &j->job, "berth:connect", connect_execute, connect_complete);
}

/* podNsCreate(ipcPath, utsPath, hostname) → Promise: a new IPC and a new UTS namespace
 * (either path may be null), each pinned by a bind mount on its path (an existing empty
 * file); the UTS namespace gets hostname. Done on a thread of the job's own, which ends
 * with the job, so no thread of Node's changes namespace. */
struct podns_job {
  struct thread_job job;
  char ipc[MAX_STR], uts[MAX_STR], host[MAX_STR];
  int has_ipc, has_uts, has_host;
};

static int pin_own_ns(struct thread_job *job, const char *kind, const char *path) {
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/%s", (long)gettid(), kind);
  job->where = path;
  if (mount(self, path, NULL, MS_BIND, NULL) != 0) { job->err = errno; job->call = "mount"; return -1; }
  return 0;
}

static void podns_work(struct thread_job *job) {
  struct podns_job *j = (struct podns_job *)job;
  int flags = (j->has_ipc ? CLONE_NEWIPC : 0) | (j->has_uts ? CLONE_NEWUTS : 0);
  if (flags == 0) return;
  if (unshare(flags) != 0) { job->err = errno; job->call = "unshare"; return; }
  if (j->has_uts && j->has_host && sethostname(j->host, strlen(j->host)) != 0) { job->err = errno; job->call = "sethostname"; return; }
  if (j->has_ipc && pin_own_ns(job, "ipc", j->ipc) != 0) return;
  if (j->has_uts) pin_own_ns(job, "uts", j->uts);
}

static napi_value js_podns_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct podns_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "podNsCreate", NULL);
  j->has_ipc = arg_str(env, argv[0], j->ipc) != NULL;
  j->has_uts = arg_str(env, argv[1], j->uts) != NULL;
  j->has_host = arg_str(env, argv[2], j->host) != NULL;
  j->job.work = podns_work;
  return job_start(env, &j->job, "berth:podns");
}

/* Child processes. glibc's posix_spawn clones with CLONE_VM|CLONE_VFORK: the parent's
 * page tables are never copied (a fork of a ~90 MB process costs milliseconds of the
 * event loop), and the parent waits only until the child has exec'd. */
/* Frees a NULL-terminated array of strings. */
static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

/* A JS array of strings as a NULL-terminated array (NULL on bad input or no memory). */
static char **arg_strv(napi_env env, napi_value arr) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    size_t len = 0;
    napi_get_element(env, arr, i, &e);
    if (napi_get_value_string_utf8(env, e, NULL, 0, &len) != napi_ok || !(v[i] = malloc(len + 1))) { free_strv(v); return NULL; }
    napi_get_value_string_utf8(env, e, v[i], len + 1, &len);
    if (strlen(v[i]) != len) { free_strv(v); return NULL; } /* a NUL inside would cut it short */
  }
  return v;
}

/* pipe() → [readFd, writeFd], both close-on-exec: a child gets one end only by a dup. */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2", NULL);
  napi_value r, a, b;
  napi_create_array_with_length(env, 2, &r);
  napi_create_int32(env, fds[0], &a);
  napi_create_int32(env, fds[1], &b);
  napi_set_element(env, r, 0, a);
  napi_set_element(env, r, 1, b);
  return r;
}

#define MAX_CHILD_FDS 64

/* spawn(file, argv, envp, cwd, setsid, fds) → Promise<[pid, pidfd]>. fds[i] is the fd of
 * ours that becomes the child's fd i (-1: /dev/null; it must stay open until the promise
 * settles); every other fd is closed in the child. Signal dispositions go back to their
 * defaults (Node ignores SIGPIPE, an ignored signal would stay ignored across exec; glibc
 * keeps its two internal ones, 32 and 33, ignored) and the child starts with no signal
 * blocked. The spawn runs on a thread of its own: posix_spawn returns once the child has
 * exec'd, a wait that on a busy machine lasts as long as the child waits for a CPU. */
struct spawn_job {
  struct thread_job job;
  char file[MAX_STR], cwd[MAX_STR];
  int has_cwd, setsid, nfds;
  int src[MAX_CHILD_FDS];
  char **argv, **envp;
};

static void spawn_work(struct thread_job *job) {
  struct spawn_job *j = (struct spawn_job *)job;
  int moved[MAX_CHILD_FDS];
  job->call = "spawn";
  job->where = j->file;
  /* The child's dups run in order: a source below nfds may be overwritten by an earlier
   * one, so such a source is first copied above them all. */
  int err = 0;
  for (int i = 0; i < j->nfds; i++) {
    moved[i] = -1;
    if (!err && j->src[i] >= 0 && j->src[i] < j->nfds && j->src[i] != i) {
      if ((moved[i] = fcntl(j->src[i], F_DUPFD_CLOEXEC, j->nfds)) < 0) err = errno;
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (j->setsid ? POSIX_SPAWN_SETSID : 0));
  for (int i = 0; i < j->nfds && !err; i++) {
    int from = moved[i] >= 0 ? moved[i] : j->src[i];
    /* A dup onto itself clears close-on-exec (glibc ≥ 2.29), as the child needs. */
    err = from < 0 ? posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0)
                   : posix_spawn_file_actions_adddup2(&fa, from, i);
  }
  if (!err) err = posix_spawn_file_actions_addclosefrom_np(&fa, j->nfds);
  if (!err && j->has_cwd) err = posix_spawn_file_actions_addchdir_np(&fa, j->cwd);
  pid_t pid = -1;
  if (!err) err = posix_spawn(&pid, j->file, &fa, &attr, j->argv, j->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int i = 0; i < j->nfds; i++) if (moved[i] >= 0) close(moved[i]);
  free_strv(j->argv);
  free_strv(j->envp);
  j->argv = j->envp = NULL;
  if (err) { job->err = err; return; }
  /* Nobody else reaps the child before this (libuv waits for its own pids only), so the
   * pidfd names it even if it has exited already. */
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    job->err = errno;
    job->call = "pidfd_open";
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return;
  }
  job->pid = pid;
  job->fd = pidfd;
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct spawn_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "spawn", NULL);
  uint32_t nfds = 0;
  bool setsid = false;
  napi_get_value_bool(env, argv[4], &setsid);
  j->setsid = setsid;
  j->has_cwd = arg_str(env, argv[3], j->cwd) != NULL;
  if (!arg_str(env, argv[0], j->file) || napi_get_array_length(env, argv[5], &nfds) != napi_ok || nfds > MAX_CHILD_FDS) {
    free(j);
    return throw_errno(env, EINVAL, "spawn", NULL);
  }
  j->nfds = (int)nfds;
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value e;
    napi_get_element(env, argv[5], i, &e);
    j->src[i] = (int)arg_int(env, e);
  }
  j->argv = arg_strv(env, argv[1]);
  j->envp = arg_strv(env, argv[2]);
  if (!j->argv || !j->envp || !j->argv[0]) {
    free_strv(j->argv);
    free_strv(j->envp);
    free(j);
    return throw_errno(env, EINVAL, "spawn", NULL);
  }
  j->job.work = spawn_work;
  j->job.returns_fd = 1;
  j->job.fd = -1;
  return job_start(env, &j->job, "berth:spawn");
}

/* pollReap(handle) → the exit of the child whose pidfd the poller holds: its exit code,
 * 256 + the signal that ended it, or -1 while it still runs. */
static napi_value js_poll_reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  if (!p || p->closing) return throw_errno(env, EBADF, "waitid", NULL);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do rc = waitid(P_PIDFD, (id_t)p->fd, &si, WEXITED | WNOHANG); while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno != EAGAIN) return throw_errno(env, errno, "waitid", NULL);
  int status = rc < 0 || si.si_pid == 0 ? -1 : si.si_code == CLD_EXITED ? si.si_status : 256 + si.si_status;
  napi_create_int32(env, status, &result);
  return result;
}

/* pollSignal(handle, signal) → whether it was sent (false once the child is gone). */
static napi_value js_poll_signal(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  bool sent = false;
  if (p && !p->closing) {
    if (syscall(SYS_pidfd_send_signal, p->fd, (int)arg_int(env, argv[1]), NULL, 0) == 0) sent = true;
    else if (errno != ESRCH) return throw_errno(env, errno, "pidfd_send_signal", NULL);
  }
  napi_get_boolean(env, sent, &result);
  return result;
}

/* pollRef(handle, on): whether the poller keeps the event loop alive. */
static napi_value js_poll_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct poller *p = arg_poller(env, argv[0]);
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  if (p && !p->closing) {
    if (on) uv_ref((uv_handle_t *)&p->handle);
    else uv_unref((uv_handle_t *)&p->handle);
  }
  return NULL;
}

#define EXPORT(name, fn)                                              \
  do {                                                                \
    napi_value f;                                                     \
    napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);  \
    napi_set_named_property(env, exports, name, f);                   \
  } while (0)

static void on_env_cleanup(void *arg) {
  ((struct env_state *)arg)->gone = 1; /* kept: pollers still closing may look at it */
}

static napi_value init(napi_env env, napi_value exports) {
  struct env_state *state = calloc(1, sizeof *state);
  if (!state) return NULL;
  napi_set_instance_data(env, state, NULL, NULL);
  napi_add_env_cleanup_hook(env, on_env_cleanup, state);
  EXPORT("mount", js_mount);
  EXPORT("mountAt", js_mount_at);
  EXPORT("umount2", js_umount2);
  EXPORT("mknod", js_mknod);
  EXPORT("mallocTrim", js_malloc_trim);
  EXPORT("lsetxattr", js_lsetxattr);
  EXPORT("lgetxattr", js_lgetxattr);
  EXPORT("llistxattr", js_llistxattr);
  EXPORT("seqpacketConnect", js_seqpacket_connect);
  EXPORT("netnsCreate", js_netns_create);
  EXPORT("dialInNetns", js_dial_in_netns);
  EXPORT("removePaths", js_remove_paths);
  EXPORT("readSmallFile", js_read_small_file);
  EXPORT("podNsCreate", js_podns_create);
  EXPORT("pollOpen", js_poll_open);
  EXPORT("pollWatch", js_poll_watch);
  EXPORT("pollClose", js_poll_close);
  EXPORT("pollShutdown", js_poll_shutdown);
  EXPORT("recvPacket", js_recv_packet);
  EXPORT("sendPacket", js_send_packet);
  EXPORT("pipe", js_pipe);
  EXPORT("spawn", js_spawn);
  EXPORT("pollReap", js_poll_reap);
  EXPORT("pollSignal", js_poll_signal);
  EXPORT("pollRef", js_poll_ref);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
