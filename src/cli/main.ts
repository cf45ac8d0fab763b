/**
 * The `birdie` command line.
 */
import { readFileSync } from 'node:fs';
import { envExample } from '../config.js';
import { configFromEnvironment, serveUntilSignal } from '../server/main.js';
import { BACKUP_HELP, backupCommand, restoreCommand } from './backup.js';
import { CLUSTER_HELP, clusterCommand, UsageError } from './cluster.js';
import { TUNE_HELP, tuneCommand } from './tune.js';

const HELP = `birdie: real-time tweet clustering with BIRCH

Usage: birdie <command> [options]

Commands
  serve              run the HTTP service (configured by environment variables and .env;
                     see .env.example), on port 8000 by default
  cluster [FILE|-]   cluster a JSONL or CSV file of tweets in one pass (see birdie cluster --help)
  tune FILE          cluster a sample of FILE at several thresholds and suggest one
  config example     print every setting with its default, in .env form
  backup list        the backups in the store (S3 or STATE_DIR), newest first
  backup verify      check a backup end to end (see birdie help backup)
  restore            make a backup the state in STATE_DIR (the service must be stopped)
  help               this text
  version            print the version
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve': {
        if (rest.length > 0)
          throw new UsageError(
            `serve takes no arguments (it reads its settings from the environment), got "${rest[0]}"`,
          );
        const config = configFromEnvironment();
        if (config === undefined) return 1;
        const code = await serveUntilSignal(config);
        // the logs are written synchronously; handles that a library may keep open must not
        // hold the process past its stop
        process.exit(code);
        return code;
      }
      case 'backup':
      case 'restore': {
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(BACKUP_HELP);
          return 0;
        }
        const config = configFromEnvironment();
        if (config === undefined) return 1;
        return cmd === 'backup' ? await backupCommand(rest, config) : await restoreCommand(rest, config);
      }
      case 'config':
        if (rest[0] !== 'example') throw new UsageError('usage: birdie config example');
        process.stdout.write(envExample());
        return 0;
      case 'cluster':
        return await clusterCommand(rest);
      case 'tune':
        return await tuneCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(
          cmd === 'help' && rest[0] === 'cluster'
            ? CLUSTER_HELP
            : cmd === 'help' && (rest[0] === 'backup' || rest[0] === 'restore')
              ? BACKUP_HELP
              : cmd === 'help' && rest[0] === 'tune'
                ? TUNE_HELP
                : HELP,
        );
        return 0;
      case 'version':
      case '--version':
        process.stdout.write(`${version()}\n`);
        return 0;
      default:
        process.stderr.write(`birdie: unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    // Usage mistakes and unreadable files get one clear line, never a stack trace.
    const e = err as NodeJS.ErrnoException;
    if (
      err instanceof UsageError ||
      e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
    ) {
      process.stderr.write(`birdie: ${e.message}\n`);
      return 2;
    }
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      process.stderr.write(`birdie: cannot read ${e.path ?? 'input'}: ${e.code}\n`);
      return 1;
    }
    throw err;
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
