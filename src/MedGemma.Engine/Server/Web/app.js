'use strict';
// The caption page. Talks only to this server (/api/*); authentication is the HttpOnly cookie
// the server set when the page was opened with ?token=.

(function () {
  const $ = (id) => document.getElementById(id);
  const browserImageTypes = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp'];
  const state = { items: [], nextId: 1, limits: { maxUploadBytes: Infinity, maxImagesPerRequest: 64 }, busy: false };

  // Keep the token out of the address bar, history and bookmarks once the cookie holds it.
  if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname);

  async function api(path, options) {
    const response = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, options));
    let body = null;
    const type = response.headers.get('Content-Type') || '';
    if (type.startsWith('application/json')) body = await response.json();
    else if (response.ok) body = await response.blob();
    if (!response.ok) {
      const err = new Error((body && body.error && body.error.message) || ('HTTP ' + response.status));
      err.status = response.status;
      err.retryAfter = Number(response.headers.get('Retry-After')) || 0;
      throw err;
    }
    return body;
  }

  async function loadStatus() {
    try {
      const s = await api('/api/status');
      $('status').textContent = 'Model: ' + s.model + ' · Device: ' + s.device + ' · Adapter: ' + (s.adapter || 'none');
      $('status').classList.remove('bad');
      state.limits = s.limits;
      if (!$('prompt').value) $('prompt').value = s.defaults.prompt;
      if (!$('maxTokens').value) $('maxTokens').value = s.defaults.maxNewTokens;
      $('maxTokens').max = s.limits.maxNewTokens;
      const win = $('window');
      if (!win.options.length) {
        for (const w of s.windows) win.add(new Option(w.label, w.id));
      }
      const a = await api('/api/adapters');
      const select = $('adapter');
      select.length = 1;
      select.options[0].text = 'Active (' + (a.active || 'none') + ')';
      for (const name of a.adapters) select.add(new Option(name, name));
    } catch (e) {
      $('status').textContent = e.status === 401
        ? 'Not authorized: open the URL that Start-CaptionServer returned.'
        : 'Server not reachable: ' + e.message;
      $('status').classList.add('bad');
    }
  }

  function formatSize(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  function addFiles(files) {
    for (const file of files) {
      const item = { id: state.nextId++, file: file, caption: null, error: null, seconds: null, pending: false };
      state.items.push(item);
      renderItem(item);
      preview(item);
    }
    refreshButtons();
  }

  function renderItem(item) {
    let li = document.getElementById('item-' + item.id);
    if (!li) {
      li = document.createElement('li');
      li.id = 'item-' + item.id;
      li.className = 'item';
      li.innerHTML = '<div class="thumb">…</div><div class="body"><div class="meta"><span class="name"></span>' +
        '<span class="size"></span><span class="time"></span></div><div class="result"></div>' +
        '<div class="tools"><button type="button" class="secondary copy" hidden>Copy</button>' +
        '<button type="button" class="secondary remove">Remove</button></div></div>';
      li.querySelector('.name').textContent = item.file.name;
      li.querySelector('.size').textContent = formatSize(item.file.size);
      li.querySelector('.copy').addEventListener('click', () => copy(item, li.querySelector('.copy')));
      li.querySelector('.remove').addEventListener('click', () => removeItem(item));
      $('list').appendChild(li);
    }
    const result = li.querySelector('.result');
    result.className = 'result';
    result.textContent = '';
    const p = document.createElement('p');
    if (item.pending) { p.className = 'pending'; p.textContent = item.note || 'Captioning…'; }
    else if (item.error) { p.className = 'error'; p.textContent = item.error; }
    else if (item.caption !== null) { p.className = 'caption'; p.textContent = item.caption; }
    if (p.className) result.appendChild(p);
    li.querySelector('.time').textContent = item.caption !== null && item.seconds !== null ? item.seconds.toFixed(2) + ' s' : '';
    li.querySelector('.copy').hidden = item.caption === null;
  }

  async function preview(item) {
    const li = document.getElementById('item-' + item.id);
    const thumb = li.querySelector('.thumb');
    if (item.previewUrl) URL.revokeObjectURL(item.previewUrl);
    let url = null;
    if (browserImageTypes.includes(item.file.type)) {
      url = URL.createObjectURL(item.file);
      item.serverPreview = false;
    } else {
      // DICOM, TIFF…: browsers cannot show them; the server renders them with the chosen window.
      item.serverPreview = true;
      if (item.file.size > state.limits.maxUploadBytes) { thumb.textContent = 'Too large to preview'; return; }
      const form = new FormData();
      form.append('image', item.file, item.file.name);
      form.append('window', $('window').value);
      try { url = URL.createObjectURL(await api('/api/preview', { method: 'POST', body: form })); }
      catch (e) { thumb.textContent = 'No preview: ' + e.message; thumb.classList.add('none'); return; }
    }
    item.previewUrl = url;
    const img = document.createElement('img');
    img.alt = item.file.name;
    img.addEventListener('error', () => { thumb.textContent = 'No preview'; thumb.classList.add('none'); });
    img.src = url;
    thumb.textContent = '';
    thumb.classList.remove('none');
    thumb.appendChild(img);
  }

  function removeItem(item) {
    if (state.busy) return;
    if (item.previewUrl) URL.revokeObjectURL(item.previewUrl);
    state.items = state.items.filter((i) => i !== item);
    document.getElementById('item-' + item.id).remove();
    refreshButtons();
  }

  async function copy(item, button) {
    try { await navigator.clipboard.writeText(item.caption); }
    catch (_) {
      // The Clipboard API needs a secure context; a remote plain-HTTP page falls back to a selection copy.
      const t = document.createElement('textarea');
      t.value = item.caption;
      document.body.appendChild(t);
      t.select();
      document.execCommand('copy');
      t.remove();
    }
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 1200);
  }

  // Splits the items into requests that respect the server's size and count limits.
  function batches(items) {
    const out = [];
    let current = [], bytes = 0;
    const budget = state.limits.maxUploadBytes - 64 * 1024; // room for the form's other fields
    for (const item of items) {
      if (item.file.size > budget) {
        item.error = 'Larger than the server upload limit (' + formatSize(state.limits.maxUploadBytes) + ').';
        item.pending = false;
        renderItem(item);
        continue;
      }
      if (current.length && (bytes + item.file.size > budget || current.length >= state.limits.maxImagesPerRequest)) {
        out.push(current); current = []; bytes = 0;
      }
      current.push(item); bytes += item.file.size;
    }
    if (current.length) out.push(current);
    return out;
  }

  async function captionAll() {
    if (state.busy || !state.items.length) return;
    state.busy = true;
    refreshButtons();
    const started = performance.now();
    for (const item of state.items) {
      Object.assign(item, { caption: null, error: null, seconds: null, pending: true, note: null });
      renderItem(item);
    }
    const groups = batches(state.items);
    let done = 0;
    for (const group of groups) {
      $('progress').textContent = 'Captioning ' + (done + 1) + '–' + (done + group.length) + ' of ' + state.items.length + '…';
      await captionGroup(group);
      done += group.length;
    }
    $('progress').textContent = 'Done in ' + ((performance.now() - started) / 1000).toFixed(1) + ' s.';
    state.busy = false;
    refreshButtons();
  }

  async function captionGroup(group) {
    const form = new FormData();
    for (const item of group) form.append('image', item.file, item.file.name);
    form.append('prompt', $('prompt').value);
    form.append('language', $('language').value);
    form.append('adapter', $('adapter').value);
    form.append('maxNewTokens', $('maxTokens').value);
    form.append('window', $('window').value);
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await api('/api/caption', { method: 'POST', body: form });
        for (const r of response.results) {
          const item = group[r.index];
          Object.assign(item, { pending: false, caption: r.caption, error: r.error, seconds: r.seconds, adapter: response.adapter });
          renderItem(item);
        }
        return;
      } catch (e) {
        if (e.status === 503 && e.retryAfter && attempt < 6) {
          const wait = Math.min(e.retryAfter, 30);
          for (const item of group) { item.note = 'Server busy, retrying in ' + wait + ' s…'; renderItem(item); }
          await new Promise((r) => setTimeout(r, wait * 1000));
          continue;
        }
        for (const item of group) Object.assign(item, { pending: false, error: e.message });
        group.forEach(renderItem);
        return;
      }
    }
  }

  function results() {
    return state.items.filter((i) => !i.pending && (i.caption !== null || i.error)).map((i) => ({
      file: i.file.name, caption: i.caption, error: i.error, seconds: i.seconds,
      prompt: $('prompt').value, language: $('language').value || null, adapter: i.adapter || null,
    }));
  }

  function csvCell(v) {
    let s = v === null || v === undefined ? '' : String(v);
    // A leading = + - @ would make spreadsheets evaluate the cell as a formula.
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function download(name, type, text) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: type }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function refreshButtons() {
    const any = state.items.length > 0;
    const anyResult = state.items.some((i) => i.caption !== null || i.error);
    $('caption').disabled = state.busy || !any;
    $('clear').disabled = state.busy || !any;
    $('csv').disabled = state.busy || !anyResult;
    $('json').disabled = state.busy || !anyResult;
  }

  function wire() {
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      if (!state.busy) addFiles(e.dataTransfer.files);
    });
    $('files').addEventListener('change', (e) => { if (!state.busy) addFiles(e.target.files); e.target.value = ''; });
    $('caption').addEventListener('click', captionAll);
    $('clear').addEventListener('click', () => { for (const i of [...state.items]) removeItem(i); $('progress').textContent = ''; });
    $('window').addEventListener('change', () => { for (const i of state.items) if (i.serverPreview) preview(i); });
    $('json').addEventListener('click', () => download('captions.json', 'application/json', JSON.stringify(results(), null, 2)));
    $('csv').addEventListener('click', () => {
      const cols = ['file', 'caption', 'error', 'seconds', 'prompt', 'language', 'adapter'];
      const lines = [cols.join(',')].concat(results().map((r) => cols.map((c) => csvCell(r[c])).join(',')));
      download('captions.csv', 'text/csv', '\ufeff' + lines.join('\r\n') + '\r\n');
    });
  }

  wire();
  loadStatus();
})();
