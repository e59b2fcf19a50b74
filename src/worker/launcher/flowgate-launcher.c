/*
 * flowgate-launcher: starts a worker's node processes.
 *
 * Node.js starts a process with fork(), which copies the page tables of the
 * whole (large) worker process and blocks its event loop until exec. This
 * small helper, started once per worker, starts them with posix_spawn
 * (vfork-style: nothing is copied) instead, and reaps them.
 *
 * Each node runs as it would from Node's spawn with `detached: true`: in a new
 * session and process group, cwd = its directory, stdin from /dev/null,
 * stdout/stderr to files, default signal dispositions, an empty signal mask,
 * exactly the environment it is given, and the command looked up in that
 * environment's PATH.
 *
 * Requests (stdin): frames of a 4-byte little-endian length followed by that
 * many bytes of NUL-terminated fields:
 *   spawn ID CWD STDOUT STDERR ARGC ARGV... ENVC ENV...
 * Replies (stdout), one line each:
 *   started ID PID
 *   failed ID STAGE ERRNO     STAGE: cwd | open | exec
 *   exited ID CODE SIGNAL USER_US SYSTEM_US MAXRSS_KB
 *                             CODE -1 when killed by SIGNAL; SIGNAL 0 otherwise;
 *                             then the CPU time and peak resident memory of the
 *                             process and of the children it waited for (wait4)
 *
 * When stdin ends (the worker exited or was killed) or on SIGTERM/SIGHUP,
 * every running node's process group is killed with SIGKILL and the launcher
 * exits: nothing outlives the worker that started it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRAME (64u * 1024u * 1024u)
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct child {
  pid_t pid;
  char *id;
};

static struct child *children;
static size_t n_children, cap_children;
static int null_fd = -1;

static void die(const char *what) {
  fprintf(stderr, "flowgate-launcher: %s: %s\n", what, strerror(errno));
  exit(70);
}

/*
 * Replies are collected and written together: the exits reaped in one turn of
 * the loop in one write (before any new node is started, which takes a
 * while), and the starts of the nodes requested together in another, so a
 * busy worker is woken once per batch rather than once per line.
 */
static char out_buf[1 << 16];
static size_t out_used;

static void flush_replies(void) {
  size_t off = 0;
  while (off < out_used) {
    ssize_t w = write(STDOUT_FILENO, out_buf + off, out_used - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      break; /* The worker is gone; stdin will end too. */
    }
    off += (size_t)w;
  }
  out_used = 0;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  if (out_used + (size_t)n > sizeof out_buf) flush_replies();
  memcpy(out_buf + out_used, line, (size_t)n);
  out_used += (size_t)n;
}

static void kill_all_and_exit(int code) {
  for (size_t i = 0; i < n_children; i++) kill(-children[i].pid, SIGKILL);
  exit(code);
}

static void add_child(pid_t pid, const char *id) {
  if (n_children == cap_children) {
    cap_children = cap_children ? cap_children * 2 : 16;
    children = realloc(children, cap_children * sizeof *children);
    if (!children) die("realloc");
  }
  children[n_children].pid = pid;
  children[n_children].id = strdup(id);
  if (!children[n_children].id) die("strdup");
  n_children++;
}

static void reap(void) {
  for (;;) {
    int status;
    struct rusage ru;
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) return;
    for (size_t i = 0; i < n_children; i++) {
      if (children[i].pid != pid) continue;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      long long user_us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
      long long system_us = (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
      reply("exited %s %d %d %lld %lld %ld\n", children[i].id, code, sig, user_us, system_us, ru.ru_maxrss);
      free(children[i].id);
      children[i] = children[--n_children];
      break;
    }
  }
}

/* The value of NAME in a NULL-terminated environment, or NULL. */
static const char *env_get(char *const *envp, const char *name) {
  size_t len = strlen(name);
  for (; *envp; envp++)
    if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=') return *envp + len + 1;
  return NULL;
}

/*
 * Resolves a command as execvp would, with the node's own PATH; relative PATH
 * entries are relative to the node's directory. Returns 0 and fills `out`, or
 * an errno (ENOENT, or EACCES when only non-executable files matched).
 */
static int resolve(const char *cmd, const char *cwd, char *const *envp, char *out, size_t outlen) {
  if (strchr(cmd, '/')) {
    if ((size_t)snprintf(out, outlen, "%s", cmd) >= outlen) return ENAMETOOLONG;
    return 0;
  }
  if (*cmd == '\0') return ENOENT;
  const char *path = env_get(envp, "PATH");
  if (!path) path = DEFAULT_PATH;
  int err = ENOENT;
  for (const char *p = path;;) {
    const char *end = strchrnul(p, ':');
    int dirlen = (int)(end - p);
    int n;
    if (dirlen == 0)
      n = snprintf(out, outlen, "%s/%s", cwd, cmd);
    else if (*p == '/')
      n = snprintf(out, outlen, "%.*s/%s", dirlen, p, cmd);
    else
      n = snprintf(out, outlen, "%s/%.*s/%s", cwd, dirlen, p, cmd);
    if (n > 0 && (size_t)n < outlen) {
      struct stat st;
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
        if (access(out, X_OK) == 0) return 0;
        err = EACCES;
      }
    }
    if (*end == '\0') break;
    p = end + 1;
  }
  return err;
}

static int open_log(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static void spawn_node(char **f, size_t nf) {
  /* spawn ID CWD STDOUT STDERR ARGC ARGV... ENVC ENV... */
  if (nf < 6) return;
  const char *id = f[1], *cwd = f[2], *out_path = f[3], *err_path = f[4];
  size_t argc = strtoul(f[5], NULL, 10);
  if (argc == 0 || 6 + argc >= nf) {
    reply("failed %s exec %d\n", id, EINVAL);
    return;
  }
  size_t envc = strtoul(f[6 + argc], NULL, 10);
  if (7 + argc + envc != nf) {
    reply("failed %s exec %d\n", id, EINVAL);
    return;
  }
  char **argv = calloc(argc + 1, sizeof *argv);
  char **envp = calloc(envc + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  memcpy(argv, f + 6, argc * sizeof *argv);
  memcpy(envp, f + 7 + argc, envc * sizeof *envp);

  int out_fd = -1, err_fd = -1;
  char path[4096];
  int rc;
  if (access(cwd, X_OK) != 0) {
    reply("failed %s cwd %d\n", id, errno);
    goto done;
  }
  if ((out_fd = open_log(out_path)) < 0 || (err_fd = open_log(err_path)) < 0) {
    reply("failed %s open %d\n", id, errno);
    goto done;
  }
  if ((rc = resolve(argv[0], cwd, envp, path, sizeof path)) != 0) {
    reply("failed %s exec %d\n", id, rc);
    goto done;
  }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, null_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addchdir_np(&fa, cwd);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    reply("failed %s exec %d\n", id, rc);
  } else {
    add_child(pid, id);
    reply("started %s %d\n", id, (int)pid);
  }
done:
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  free(argv);
  free(envp);
}

static void handle_frame(char *buf, uint32_t len) {
  size_t nf = 0, cap = 64;
  char **f = malloc(cap * sizeof *f);
  if (!f) die("malloc");
  for (uint32_t i = 0; i < len;) {
    char *start = buf + i;
    char *nul = memchr(start, '\0', len - i);
    if (!nul) break; /* A field without its NUL is ignored. */
    if (nf == cap) {
      cap *= 2;
      f = realloc(f, cap * sizeof *f);
      if (!f) die("realloc");
    }
    f[nf++] = start;
    i = (uint32_t)(nul - buf) + 1;
  }
  if (nf > 0 && strcmp(f[0], "spawn") == 0) spawn_node(f, nf);
  free(f);
}

int main(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) die("sigprocmask");
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) die("open /dev/null");

  size_t cap = 1 << 16, used = 0;
  char *buf = malloc(cap);
  if (!buf) die("malloc");
  struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
  for (;;) {
    flush_replies();
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      int stop = 0;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP) stop = 1;
      reap();
      if (stop) kill_all_and_exit(0);
      /* Exits are told before any new node is started: a spawn takes a while. */
      flush_replies();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (cap - used < 4096) {
        cap *= 2;
        buf = realloc(buf, cap);
        if (!buf) die("realloc");
      }
      ssize_t n = read(STDIN_FILENO, buf + used, cap - used);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) kill_all_and_exit(0);
      used += (size_t)n;
      size_t off = 0;
      while (used - off >= 4) {
        const unsigned char *h = (const unsigned char *)buf + off;
        uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        if (len > MAX_FRAME) {
          errno = EMSGSIZE;
          die("request");
        }
        if (used - off - 4 < len) {
          if (len + 4 > cap) {
            cap = len + 4;
            buf = realloc(buf, cap);
            if (!buf) die("realloc");
          }
          break;
        }
        handle_frame(buf + off + 4, len);
        off += 4 + len;
      }
      memmove(buf, buf + off, used - off);
      used -= off;
    }
  }
}
