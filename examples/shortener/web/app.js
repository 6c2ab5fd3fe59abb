// The shortener's page: create a link, copy it, show its QR code and its
// stats as inline SVG charts. No build step, no CDN.
'use strict';
const $ = (id) => document.getElementById(id);

function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }

async function loadQR(code, into) {
  const r = await fetch('/api/v1/links/' + encodeURIComponent(code) + '/qr.svg');
  if (r.ok) into.innerHTML = await r.text();
}

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('error').hidden = true;
  const body = { url: $('url').value.trim() };
  if ($('alias').value) body.alias = $('alias').value.trim();
  if ($('expires').value) body.expires_at = new Date($('expires').value).toISOString();
  if ($('max').value) body.max_visits = parseInt($('max').value, 10);
  const r = await fetch('/api/v1/links', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random() }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) { $('error').textContent = j.detail || j.title || ('error ' + r.status); $('error').hidden = false; return; }
  $('short').textContent = j.short_url; $('short').href = j.short_url;
  $('statslink').href = '/?stats=' + encodeURIComponent(j.code);
  $('result').hidden = false;
  loadQR(j.code, $('qr'));
});

$('copy').addEventListener('click', async () => {
  try { await navigator.clipboard.writeText($('short').textContent); } catch (e) { /* clipboard needs a secure context */ }
  $('copied').hidden = false; setTimeout(() => { $('copied').hidden = true; }, 1500);
});

// bars draws a horizontal bar chart of [{name,count}].
function bars(rows) {
  if (!rows || rows.length === 0) return '<p>no data yet</p>';
  const max = Math.max(...rows.map((r) => r.count)), h = 22, w = 600;
  let s = `<svg viewBox="0 0 ${w} ${rows.length * h + 4}" role="img">`;
  rows.forEach((r, i) => {
    const bw = Math.max(2, (w - 220) * r.count / max);
    s += `<text x="4" y="${i * h + 16}" font-size="13">${esc(r.name)}</text>`;
    s += `<rect x="160" y="${i * h + 4}" width="${bw}" height="${h - 8}" fill="#2563eb"/>`;
    s += `<text x="${166 + bw}" y="${i * h + 16}" font-size="13">${r.count}</text>`;
  });
  return s + '</svg>';
}

// columns draws clicks per hour as a column chart.
function columns(hours) {
  if (!hours || hours.length === 0) return '<p>no clicks yet</p>';
  const w = 600, h = 160, max = Math.max(...hours.map((x) => x.count)), bw = Math.max(2, Math.min(40, (w - 40) / hours.length - 2));
  let s = `<svg viewBox="0 0 ${w} ${h + 30}" role="img">`;
  hours.forEach((x, i) => {
    const bh = Math.max(1, (h - 10) * x.count / max), X = 30 + i * (bw + 2);
    s += `<rect class="bar" x="${X}" y="${h - bh}" width="${bw}" height="${bh}" fill="#16a34a"><title>${esc(x.hour)}: ${x.count}</title></rect>`;
    if (i === 0 || i === hours.length - 1) s += `<text x="${X}" y="${h + 16}" font-size="11">${esc(x.hour.slice(5, 13))}h</text>`;
  });
  s += `<text x="0" y="12" font-size="11">${max}</text></svg>`;
  return s;
}

async function showStats(code) {
  $('create').hidden = true; $('stats').hidden = false; $('scode').textContent = code;
  const r = await fetch('/api/v1/links/' + encodeURIComponent(code) + '/stats');
  if (!r.ok) { $('scode').textContent = code + ' (not found)'; return; }
  const s = await r.json();
  $('clicks').textContent = s.clicks; $('unique').textContent = s.unique_visitors; $('bots').textContent = s.bots;
  $('hours').innerHTML = columns(s.hours);
  $('refs').innerHTML = bars(s.referrers);
  $('browsers').innerHTML = bars(s.browsers);
  $('os').innerHTML = bars(s.os);
  loadQR(code, $('sqr'));
  document.body.dataset.loaded = 'stats';
}

const q = new URLSearchParams(location.search).get('stats');
if (q) showStats(q); else document.body.dataset.loaded = 'create';
