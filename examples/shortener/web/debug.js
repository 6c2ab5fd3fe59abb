'use strict';
const $ = (id) => document.getElementById(id);
function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }
function row(k, v) { return `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`; }
async function refresh() {
  const r = await fetch('/debug/scalekit?format=json', { cache: 'no-store' });
  const s = await r.json();
  $('stamp').textContent = 'node ' + s.node + ' · ' + s.mode + ' · ' + s.time;
  $('summary').innerHTML =
    row('idgen: node-id lease', `${s.idgen.namespace}/${s.idgen.node_id} ${s.idgen.lease_ok ? 'held' : 'LOST'}`) +
    row('cache: hit ratio', `${(s.cache.hit_ratio * 100).toFixed(1)}% (hits ${s.cache.hits}, misses ${s.cache.misses}, negative ${s.cache.negative_hits})`) +
    row('shards: map version', `${s.shards.map} v${s.shards.version} (${s.shards.driver}), ${s.shards.logical} logical shards on ${(s.shards.physical || []).length} stores`) +
    row('shards: placement', Object.entries(s.shards.placement || {}).map(([n, ls]) => `${n}: ${ls.length} (${ls.slice(0, 6).join(',')}${ls.length > 6 ? ',…' : ''})`).join(' · ')) +
    row('bloom (aliases)', `~${s.bloom.estimated_count} codes, fp ${s.bloom.false_positive_rate.toExponential(2)}`) +
    row('ratelimit: rejections', `${s.ratelimit.rejected} (per key ${s.ratelimit.rejected_per_key}, per client ${s.ratelimit.rejected_per_client})`) +
    row('httpx shed: limit / in flight', `${s.shed.limit.toFixed(0)} / ${s.shed.in_flight}`) +
    row('queue: backlog / DLQ', `${s.queue.backlog} / ${s.queue.dlq} (${s.queue.backend})`) +
    row('saga: deletes completed / compensated / stuck', `${s.saga.completed} / ${s.saga.compensated} / ${s.saga.stuck}`) +
    row('redirects served / store reads', `${s.redirects.served} / ${s.redirects.cache_misses_to_store}`);
  if (s.lb && s.lb.length) {
    $('lb').innerHTML = '<tr><th>endpoint</th><th>healthy</th><th>ejected</th><th>breaker</th><th>in flight</th><th>picks</th><th>latency ms</th></tr>' +
      s.lb.map((e) => `<tr><td>${esc(e.addr)}</td><td>${e.healthy}</td><td>${e.ejected}</td><td>${esc(e.breaker)}</td><td>${e.in_flight}</td><td>${e.picks}</td><td>${e.latency_ms}</td></tr>`).join('');
  }
  $('raw').textContent = JSON.stringify(s, null, 2);
  document.body.dataset.loaded = 'debug';
}
refresh(); setInterval(refresh, 2000);
