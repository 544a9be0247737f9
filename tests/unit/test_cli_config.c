/*
 * tests/unit/test_cli_config.c — mmpipe.json handling: values land in the
 * options, flags override them, and malformed or hostile documents are refused.
 */
#include <string.h>

#include "cli.h"
#include "test.h"

int main(void) {
    cli c;
    char err[256];
    /* flags override the config: parse a config, then flags */
    char *argv[] = {"worker", "--lease", "7", NULL};
    CHECK(cli_parse(&c, "worker", "db,lease,workers,sync", 3, argv) == 0, "parse");
    CHECK(c.lease_s == 7, "flag applied");
    const char *good = "{\"db\": \"x.db\", \"lease\": 12.5, \"workers\": 3, \"sync\": \"NORMAL\"}";
    CHECK(cli_config_apply(&c, good, strlen(good), err, sizeof err) == 0, "config: %s", err);
    CHECK(!strcmp(c.db, "x.db") && c.lease_s == 12.5 && c.workers == 3 && c.jopt.sync == JOBS_SYNC_NORMAL,
          "config values");
    const char *bad[] = {"", "[]", "{", "{\"nope\": 1}", "{\"lease\": \"abc\"}", "{\"workers\": 0}",
                         "{\"workers\": [1]}", "{\"sync\": \"SOMETIMES\"}", "{\"config\": \"x\"}", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(cli_config_apply(&c, bad[i], strlen(bad[i]), err, sizeof err) != 0, "refused: %s", bad[i]);
    char *argv2[] = {"status", "--follow", NULL};
    CHECK(cli_parse(&c, "status", "db,json", 2, argv2) == EXIT_USAGE, "option not for this command");
    char *argv3[] = {"worker", "-j", "x", NULL};
    CHECK(cli_parse(&c, "worker", "workers", 3, argv3) == EXIT_USAGE, "bad number");
    char *argv4[] = {"worker", "--bogus", NULL};
    CHECK(cli_parse(&c, "worker", "workers", 2, argv4) == EXIT_USAGE, "unknown option");
    return test_done("test_cli_config");
}
