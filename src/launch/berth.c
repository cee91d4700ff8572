/* bin/berth: finds the command (in the container and image groups, the subcommand) and
 * starts node on build/launch.cjs with that command's flags and code cache, as
 * scripts/build.mjs explains. A static program, not a shell script: dash and its reading of
 * the script cost every command about 1 ms of its ~45. The build compiles in the paths and
 * the command lists (-D); a moved checkout is found from /proc/self/exe. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether name is one of list's, a string of names each between spaces: " ps images ". */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || strchr(name, ' ')) return 0;
  for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
    if (p[-1] == ' ' && p[n] == ' ') return 1;
  return 0;
}

int main(int argc, char **argv) {
  const char *command = "";
  for (int i = 1; i < argc; i++) {
    if (listed(" " BERTH_VALUED " ", argv[i])) i++;  /* a global option's value */
    else if (argv[i][0] == '-' || listed(" container image ", argv[i])) continue;
    else {
      command = argv[i];
      break;
    }
  }

  char launch[PATH_MAX] = BERTH_LAUNCH;
  if (access(launch, F_OK) != 0) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) n = 0;
    self[n] = 0;
    snprintf(launch, sizeof launch, "%s/../build/launch.cjs", dirname(self));
  }

  unsetenv("NODE_EXTRA_CA_CERTS");
  setenv("MALLOC_ARENA_MAX", "2", 1);
  char **args = calloc(argc + 4, sizeof *args);
  if (!args) return 125;
  int k = 0;
  args[k++] = BERTH_NODE;
  if (listed(" " BERTH_QUICK " ", command)) {
    setenv("BERTH_CODE_CACHE", command, 1);
    args[k++] = "--no-rehash-snapshot";
  } else if (listed(" " BERTH_RUNNERS " ", command)) {
    setenv("BERTH_CODE_CACHE", "full", 1);
  }
  args[k++] = "--";  /* node's own options end: node 20 would act on a user's --env-file */
  args[k++] = launch;
  for (int i = 1; i < argc; i++) args[k++] = argv[i];
  execv(BERTH_NODE, args);
  fprintf(stderr, "berth: cannot start %s: %s\n", BERTH_NODE, strerror(errno));
  return 125;
}
