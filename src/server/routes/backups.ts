/** Backups and restore: POST /backup, GET /backups, POST /restore (admin). */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { StateError } from '../../engine/state.js';
import { BirdieError } from '../../errors.js';
import { RestoreError } from '../../pipeline/durable.js';
import { ErrorResponse } from '../../pipeline/schema.js';
import { SnapshotError } from '../../store/codec.js';
import type { Context } from '../context.js';

const BackupOut = Type.Object({
  timestamp: Type.String({ pattern: '^\\d{8}_\\d{6}$' }),
  created: Type.String({ format: 'date-time' }),
  lsn: Type.Integer({ description: 'The last log record the backup includes' }),
  bytes: Type.Integer(),
  sha256: Type.String(),
  encrypted: Type.Boolean(),
  key_id: Type.Union([Type.String(), Type.Null()]),
  clusters: Type.Integer(),
  tweets: Type.Integer(),
});

function view(b: {
  timestamp: string;
  created: string;
  lsn: number;
  bytes: number;
  sha256: string;
  encrypted: boolean;
  keyId?: string;
  clusters: number;
  tweets: number;
}) {
  return {
    timestamp: b.timestamp,
    created: b.created,
    lsn: b.lsn,
    bytes: b.bytes,
    sha256: b.sha256,
    encrypted: b.encrypted,
    key_id: b.keyId ?? null,
    clusters: b.clusters,
    tweets: b.tweets,
  };
}

export async function backupRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const durable = () => {
    if (ctx.durable === undefined) throw new BirdieError('BRD_ERR_NOT_READY');
    return ctx.durable;
  };

  app.post(
    '/backup',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Snapshot the state now and write it to the backup store (waits for it)',
        tags: ['admin'],
        response: { 200: BackupOut, '4XX': ErrorResponse, '5XX': ErrorResponse },
      },
    },
    async () => {
      try {
        const m = await durable().backup('request');
        if (m === undefined) throw new BirdieError('BRD_ERR_BACKUP_FAILED');
        return view(m);
      } catch (err) {
        if (err instanceof BirdieError) throw err;
        throw new BirdieError('BRD_ERR_BACKUP_FAILED', `The backup failed: ${(err as Error).message}`);
      }
    },
  );

  app.get(
    '/backups',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'The backups in the store, newest first',
        tags: ['admin'],
        response: {
          200: Type.Object({ location: Type.String(), backups: Type.Array(BackupOut) }),
          '4XX': ErrorResponse,
          '5XX': ErrorResponse,
        },
      },
    },
    async () => {
      const d = durable();
      try {
        const list = await d.list();
        return { location: d.storeLocation, backups: list.map(view) };
      } catch (err) {
        throw new BirdieError(
          'BRD_ERR_BACKUP_FAILED',
          `The backup store cannot be listed: ${(err as Error).message}`,
        );
      }
    },
  );

  app.post(
    '/restore',
    {
      config: { access: 'admin' },
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
      schema: {
        summary: 'Replace the state with a backup: the newest, or {"timestamp": "20241201_143022"}',
        description:
          'Reads keep answering from the old state until the new one is in place; ingest waits for the swap. The restored state is written as a new local snapshot first, so a crash right after still comes back to it.',
        tags: ['admin'],
        body: Type.Object(
          { timestamp: Type.Optional(Type.String({ pattern: '^\\d{8}_\\d{6}$' })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ restored: BackupOut, clusters: Type.Integer(), tweets: Type.Integer() }),
          '4XX': ErrorResponse,
          '5XX': ErrorResponse,
        },
      },
    },
    async (req) => {
      const { timestamp } = req.body as { timestamp?: string };
      try {
        const info = await durable().restore(timestamp);
        return {
          restored: view(info),
          clusters: ctx.service.engine.clusterCount,
          tweets: ctx.service.engine.tweets,
        };
      } catch (err) {
        if (err instanceof RestoreError) throw new BirdieError('BRD_ERR_BACKUP_NOT_FOUND', err.message);
        if (err instanceof SnapshotError || err instanceof StateError)
          throw new BirdieError('BRD_ERR_BACKUP_INVALID', `The backup cannot be restored: ${err.message}`);
        if (err instanceof BirdieError) throw err;
        throw new BirdieError('BRD_ERR_BACKUP_FAILED', `The restore failed: ${(err as Error).message}`);
      }
    },
  );
}
