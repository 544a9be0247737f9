/*
 * tests/fuzz/fuzz_config.c — libFuzzer target for the mmpipe.json parser
 * (cJSON + cli_config_apply): any bytes give 0 or a refusal, never a crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    cli c;
    char err[256];
    char *argv[] = {"fuzz", NULL};
    cli_parse(&c, "fuzz", "", 1, argv);
    cli_config_apply(&c, (const char *)data, n, err, sizeof err);
    return 0;
}
