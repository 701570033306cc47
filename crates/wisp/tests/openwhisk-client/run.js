// Drives a running wisp with the official OpenWhisk JavaScript client alone.
// Usage: node run.js URL KEY OTHER_NAMESPACE_KEY ACTION.wasm
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const openwhisk = require('openwhisk');

const [url, key, otherKey, wasmPath] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const status = (code) => (e) => {
  assert.equal(e.statusCode, code, `expected HTTP ${code}, got ${e.statusCode}: ${e.message}`);
  return true;
};

async function main() {
  const ow = openwhisk({ apihost: url, api_key: key });
  const code = fs.readFileSync(wasmPath).toString('base64');
  const name = 'owclient';

  await ow.actions.create({ name, action: { exec: { kind: 'wasm', code }, limits: { timeout: 5000 } } });
  await assert.rejects(ow.actions.create({ name, action: { exec: { kind: 'wasm', code } } }), status(409));
  const list = await ow.actions.list();
  assert.ok(list.some((a) => a.name === name), 'listed');
  const got = await ow.actions.get({ name });
  assert.equal(got.exec.kind, 'wasm');
  assert.equal(got.limits.timeout, 5000);

  const result = await ow.actions.invoke({ name, blocking: true, result: true, params: { name: 'ow' } });
  assert.deepEqual(result, { greeting: 'Hello, ow!' });
  const whole = await ow.actions.invoke({ name, blocking: true, params: { name: 'rec' } });
  assert.equal(whole.response.result.greeting, 'Hello, rec!');
  assert.equal(whole.activationId.length, 32);

  const { activationId } = await ow.actions.invoke({ name, params: { name: 'bg' } });
  let act;
  for (let i = 0; i < 100 && !act; i++) {
    try {
      act = await ow.activations.get({ name: activationId });
    } catch (e) {
      await sleep(50);
    }
  }
  assert.ok(act, 'background activation recorded');
  assert.equal(act.response.result.greeting, 'Hello, bg!');
  const logs = await ow.activations.logs({ name: activationId });
  assert.ok(logs.logs.some((l) => l.endsWith('stdout: greeting bg')), JSON.stringify(logs));
  const res = await ow.activations.result({ name: activationId });
  assert.equal(res.result.greeting, 'Hello, bg!');
  const acts = await ow.activations.list({ name });
  assert.ok(acts.length >= 3, `listed ${acts.length} activations`);

  await ow.actions.update({ name, action: { exec: { kind: 'wasm', code }, limits: { timeout: 3000 } } });
  const updated = await ow.actions.get({ name });
  assert.equal(updated.version, '0.0.2');
  assert.equal(updated.limits.timeout, 3000);

  // A key of another namespace can neither see nor touch these.
  const other = openwhisk({ apihost: url, api_key: otherKey });
  const theirs = await other.actions.list();
  assert.ok(!theirs.some((a) => a.name === name), 'invisible to another namespace');
  await assert.rejects(other.actions.get({ name }), status(404));
  await assert.rejects(other.actions.invoke({ name, namespace: 'guest', blocking: true }), status(403));
  await assert.rejects(other.actions.delete({ name, namespace: 'guest' }), status(403));
  await assert.rejects(other.activations.get({ name: activationId }), status(404));

  // Triggers and rules: firing a trigger runs its active rule's action.
  const trig = 'ow-trigger';
  const rule = 'ow-rule';
  await ow.triggers.create({ name: trig, trigger: { parameters: [{ key: 'base', value: 1 }] } });
  assert.equal((await ow.triggers.get({ name: trig })).name, trig);
  assert.ok((await ow.triggers.list()).some((t) => t.name === trig), 'trigger listed');
  await ow.rules.create({ name: rule, trigger: trig, action: name });
  const r = await ow.rules.get({ name: rule });
  assert.equal(r.status, 'active');
  assert.equal(r.action.name, name);
  assert.ok((await ow.rules.list()).some((x) => x.name === rule), 'rule listed');
  const ranBefore = (await ow.activations.list({ name, limit: 200 })).length;
  const fired = await ow.triggers.invoke({ name: trig, params: { name: 'rule' } });
  assert.ok(fired.activationId, 'trigger activation id');
  let ran;
  for (let i = 0; i < 100 && !ran; i++) {
    const list = await ow.activations.list({ name, limit: 200, docs: true });
    ran = list.find((a) => a.response && a.response.result && a.response.result.greeting === 'Hello, rule!');
    if (!ran) await sleep(100);
  }
  assert.ok(ran, 'the rule ran the action with the payload');
  await ow.rules.disable({ name: rule });
  assert.equal((await ow.rules.get({ name: rule })).status, 'inactive');
  await ow.triggers.invoke({ name: trig, params: { name: 'off' } });
  await sleep(1000);
  const offList = await ow.activations.list({ name, limit: 200, docs: true });
  assert.ok(!offList.some((a) => a.response && a.response.result && a.response.result.greeting === 'Hello, off!'), 'a disabled rule does not run');
  assert.equal(offList.length, ranBefore + 1, 'only the enabled firing ran the action');
  await ow.rules.enable({ name: rule });
  assert.equal((await ow.rules.get({ name: rule })).status, 'active');
  await ow.rules.delete({ name: rule });
  await assert.rejects(ow.rules.get({ name: rule }), status(404));
  await ow.triggers.delete({ name: trig });
  await assert.rejects(ow.triggers.get({ name: trig }), status(404));

  // An alarm feed at a 1-second cron: seen firing the rule's action, read,
  // then deleted and seen stopping.
  const alarmTrig = 'ow-alarm-trigger';
  const feedName = '/whisk.system/alarms/alarm';
  await ow.triggers.create({ name: alarmTrig });
  await ow.rules.create({ name: 'ow-alarm-rule', trigger: alarmTrig, action: name });
  await ow.feeds.create({
    name: feedName,
    trigger: alarmTrig,
    params: { cron: '* * * * * *', trigger_payload: { name: 'alarm' } },
  });
  let ticked = [];
  for (let i = 0; i < 60 && ticked.length < 2; i++) {
    const list = await ow.activations.list({ name, limit: 200, docs: true });
    ticked = list.filter((a) => a.response && a.response.result && a.response.result.greeting === 'Hello, alarm!');
    if (ticked.length < 2) await sleep(200);
  }
  assert.ok(ticked.length >= 2, `the alarm ran the rule's action ${ticked.length} times`);
  const feedRead = await ow.feeds.get({ name: feedName, trigger: alarmTrig });
  assert.equal(feedRead.response.result.config.cron, '* * * * * *');
  assert.ok(feedRead.response.result.status.fired >= 2, JSON.stringify(feedRead));
  await assert.rejects(
    ow.feeds.create({ name: feedName, trigger: alarmTrig, params: { cron: '* * * * * *' } }),
    status(409),
  );
  await ow.feeds.delete({ name: feedName, trigger: alarmTrig });
  await sleep(300);
  const firings = async () => (await ow.activations.list({ name: alarmTrig, limit: 200 })).length;
  const stoppedAt = await firings();
  await sleep(2500);
  assert.equal(await firings(), stoppedAt, 'a deleted alarm does not fire');
  await assert.rejects(ow.feeds.get({ name: feedName, trigger: alarmTrig }), status(404));
  await ow.rules.delete({ name: 'ow-alarm-rule' });
  await ow.triggers.delete({ name: alarmTrig });

  // A sequence: the first result is the second call's parameters.
  const seq = 'owseq';
  await ow.actions.create({ name: seq, action: { exec: { kind: 'sequence', components: [`/guest/${name}`, `/guest/${name}`] } } });
  const seqGot = await ow.actions.get({ name: seq });
  assert.equal(seqGot.exec.kind, 'sequence');
  assert.deepEqual(seqGot.exec.components, [`/guest/${name}`, `/guest/${name}`]);
  const seqRec = await ow.actions.invoke({ name: seq, blocking: true, params: { name: 'first' } });
  assert.deepEqual(seqRec.response.result, { greeting: 'Hello, stranger!' });
  assert.equal(seqRec.logs.length, 2, JSON.stringify(seqRec));
  const step1 = await ow.activations.get({ name: seqRec.logs[0] }).catch(async () => {
    await sleep(200);
    return ow.activations.get({ name: seqRec.logs[0] });
  });
  assert.deepEqual(step1.response.result, { greeting: 'Hello, first!' });
  await assert.rejects(
    ow.actions.update({ name: seq, action: { exec: { kind: 'sequence', components: [`/guest/${seq}`] } } }),
    status(400),
  );
  // A sequence as a rule's action.
  await ow.triggers.create({ name: 'ow-seq-trigger' });
  await ow.rules.create({ name: 'ow-seq-rule', trigger: 'ow-seq-trigger', action: seq });
  await ow.triggers.invoke({ name: 'ow-seq-trigger', params: { name: 'ruled' } });
  let seqRan;
  for (let i = 0; i < 100 && !seqRan; i++) {
    const list = await ow.activations.list({ name: seq, limit: 50, docs: true });
    seqRan = list.find((a) => a.logs && a.logs.length === 2 && a.response.result.greeting === 'Hello, stranger!');
    if (!seqRan) await sleep(100);
  }
  assert.ok(seqRan, 'the rule ran the sequence');
  await ow.rules.delete({ name: 'ow-seq-rule' });
  await ow.triggers.delete({ name: 'ow-seq-trigger' });
  await ow.actions.delete({ name: seq });

  await ow.actions.delete({ name });
  await assert.rejects(ow.actions.get({ name }), status(404));
  console.log('openwhisk client: all steps passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
