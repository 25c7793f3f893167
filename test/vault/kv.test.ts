/** KV v2 versions, check-and-set, soft delete, undelete, destroy and listing; KV v1; the UI mount lookup. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from './target.js';
import { call, deleteKv2, enableKv1, enableKv2, putKv1, putKv2 } from './setup.js';

let target: VaultTarget;
let api: VaultApi;

beforeAll(async () => {
  target = await startVaultTarget();
  api = vaultApi(target);
  await enableKv2(target, 'secret');
  await enableKv2(target, 'kv2');
  await enableKv1(target, 'kv1');
});

afterAll(async () => {
  await target?.stop();
});

describe('kv v2', () => {
  it('keeps versions; reads the latest or ?version=N', async () => {
    expect(await putKv2(target, 'kv2', 'app/db', { user: 'a' })).toEqual({ version: 1 });
    expect(await putKv2(target, 'kv2', 'app/db', { user: 'b', extra: 1 })).toEqual({ version: 2 });
    const latest = await call(target, 'GET', 'kv2/data/app/db');
    expect(latest.body.data.data).toEqual({ user: 'b', extra: 1 });
    expect(latest.body.data.metadata.version).toBe(2);
    const v1 = await call(target, 'GET', 'kv2/data/app/db?version=1');
    expect(v1.body.data.data).toEqual({ user: 'a' });
    expect(await api('GET', 'kv2/data/app/db?version=9')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('check-and-set', async () => {
    expect(await putKv2(target, 'kv2', 'cas', { x: 1 }, { cas: 0 })).toEqual({ version: 1 });
    expect(await api('POST', 'kv2/data/cas', { data: { x: 2 }, options: { cas: 0 } })).toEqual({
      status: 400,
      body: { errors: ['check-and-set parameter did not match the current version'] },
    });
    expect(await putKv2(target, 'kv2', 'cas', { x: 2 }, { cas: 1 })).toEqual({ version: 2 });
    expect(await api('POST', 'kv2/data/cas', {})).toEqual({ status: 400, body: { errors: ['no data provided'] } });
  });

  it('soft delete, undelete and destroy', async () => {
    await putKv2(target, 'kv2', 'del', { v: 1 });
    await putKv2(target, 'kv2', 'del', { v: 2 });
    await deleteKv2(target, 'kv2', 'del');
    const gone = await api('GET', 'kv2/data/del');
    expect(gone.status).toBe(404);
    expect(gone.body.data.data).toBeNull();
    expect(gone.body.data.metadata.version).toBe(2);
    expect(gone.body.data.metadata.deletion_time).not.toBe('');
    expect((await call(target, 'GET', 'kv2/data/del?version=1')).body.data.data).toEqual({ v: 1 });

    const meta = await call(target, 'GET', 'kv2/metadata/del');
    expect(meta.body.data.current_version).toBe(2);
    expect(meta.body.data.versions['2'].deletion_time).not.toBe('');

    expect((await api('POST', 'kv2/undelete/del', { versions: [2] })).status).toBe(204);
    expect((await call(target, 'GET', 'kv2/data/del')).body.data.data).toEqual({ v: 2 });

    expect((await api('PUT', 'kv2/destroy/del', { versions: [1] })).status).toBe(204);
    const destroyed = await api('GET', 'kv2/data/del?version=1');
    expect(destroyed.status).toBe(404);
    expect(destroyed.body.data).toEqual({
      data: null,
      metadata: expect.objectContaining({ destroyed: true, version: 1 }),
    });

    expect((await api('DELETE', 'kv2/metadata/del')).status).toBe(204);
    expect(await api('GET', 'kv2/data/del')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('lists keys one level at a time, with LIST or ?list=true', async () => {
    await putKv2(target, 'kv2', 'tree/a', { x: 1 });
    await putKv2(target, 'kv2', 'tree/b/c', { x: 1 });
    await putKv2(target, 'kv2', 'tree/b/d/e', { x: 1 });
    expect((await call(target, 'LIST', 'kv2/metadata/tree')).body.data.keys).toEqual(['a', 'b/']);
    expect((await call(target, 'GET', 'kv2/metadata/tree/b/?list=true')).body.data.keys).toEqual(['c', 'd/']);
    expect(await api('LIST', 'kv2/metadata/nothing-here')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('a path outside data/, metadata/ ... is a 404 with Vault’s warning', async () => {
    const res = await api('GET', 'kv2/app/db');
    expect(res.status).toBe(404);
    expect(res.body.data).toBeNull();
    expect(res.body.warnings[0]).toMatch(/^Invalid path for a versioned K\/V secrets engine/);
  });

  it('sys/internal/ui/mounts tells v2 from v1', async () => {
    const v2 = await call(target, 'GET', 'sys/internal/ui/mounts/kv2/app/db');
    expect(v2.body.data).toMatchObject({ path: 'kv2/', type: 'kv', options: { version: '2' } });
    const v1 = await call(target, 'GET', 'sys/internal/ui/mounts/kv1/x');
    expect(v1.body.data).toMatchObject({ path: 'kv1/', type: 'kv', options: { version: '1' } });
  });
});

describe('kv v1', () => {
  it('writes, reads with a lease_duration but no lease, lists and deletes', async () => {
    await putKv1(target, 'kv1', 'app/config', { a: 'b' });
    expect(await api('PUT', 'kv1/app/other', { c: 'd' })).toEqual({ status: 204, body: null });
    const r = await call(target, 'GET', 'kv1/app/config');
    expect(r.body).toMatchObject({ lease_id: '', renewable: false, lease_duration: 2764800, data: { a: 'b' } });
    expect((await call(target, 'LIST', 'kv1/app')).body.data.keys).toEqual(['config', 'other']);
    expect((await api('DELETE', 'kv1/app/config')).status).toBe(204);
    expect(await api('GET', 'kv1/app/config')).toEqual({ status: 404, body: { errors: [] } });
  });
});
