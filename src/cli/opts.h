/* opts.h - the flags of `tremor` itself (before the subcommand, as in Tremor
 * 0.11's clap definition), handed to the subcommands that use them. */
#ifndef TR_CLI_OPTS_H
#define TR_CLI_OPTS_H

struct tr_cli_globals {
    int verbose;                 /* -v/--verbose, repeatable */
    const char *instance;        /* -i/--instance, default "tremor" */
    const char *logger_config;   /* --logger-config FILE (0.11 has it on `server run`) */
    int log_json;                /* --log-format json */
};

#endif
