/*
 * pipeline/main.c — the `mmpipe` binary: dispatch to subcommands.
 */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"hash", cmd_hash, "hash files through the queue (model-free demo job)"},
    {"caption", cmd_caption, "caption every image (-m MODEL --mmproj MMPROJ PATH...)"},
    {"transcribe", cmd_transcribe, "transcribe every recording to SRT/VTT/JSON/TXT [--summarize]"},
    {"ingest", cmd_ingest, "chunk, embed and index documents of folders (--embed-model E.gguf)"},
    {"search", cmd_search, "hybrid search (vectors + BM25) over ingested documents"},
    {"ask", cmd_ask, "answer a question from the ingested documents, citing them (-m MODEL)"},
    {"jobs", cmd_jobs, "add, list, cancel, retry and purge jobs"},
    {"worker", cmd_worker, "run queued jobs until none is left (or --follow)"},
    {"status", cmd_status, "job counts by kind and state"},
    {"results", cmd_results, "list or export results (JSONL, CSV)"},
    {"bench", cmd_bench, "benchmarks: 'bench -m MODEL', 'bench decode', 'bench towers', 'bench queue'"},
    {"generate", cmd_generate, "stream a completion of a prompt (-m MODEL -p TEXT [--chat])"},
    {"tokenize", cmd_tokenize, "token ids of a text (-m MODEL -p TEXT [--json])"},
    {"model-info", cmd_model_info, "architecture, sizes, quant types, memory of a GGUF model"},
    {"embed", cmd_embed, "a sentence embedding (-m EMBED.gguf -p TEXT)"},
    {"eval", cmd_eval, "run one fixture case through the engine (--case, --out)"},
};

static void usage(FILE *f) {
    fprintf(f, "mmpipe %s — batch jobs over images, recordings and documents with a local model;\n"
               "every job and result is kept in one SQLite file (./mmpipe.db, --db PATH).\n\n"
               "usage: mmpipe COMMAND [options]   ('mmpipe COMMAND --help' for more)\n\n",
            MMPIPE_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "this list");
    fprintf(f, "\nexit codes: 0 all done, 3 some inputs failed, 1 fatal error, 2 usage error\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc > 2) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(commands[i].name, argv[2])) {
                    char *av[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, av);
                }
        }
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("mmpipe %s\n", MMPIPE_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name)) return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see 'mmpipe help')", name);
    return EXIT_USAGE;
}
