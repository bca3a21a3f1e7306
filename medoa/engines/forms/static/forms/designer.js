// The form designer page: the form-js editor (MedoaForms bundle) with MedOA's field types, save
// draft, publish with the server's problems, preview in the viewer, JSON upload and download.
// No inline script anywhere (CSP script-src 'self'): URLs and texts come from data-* attributes.
(function () {
  'use strict';

  const MAX_BYTES = 1024 * 1024;
  const root = document.getElementById('designer');
  if (!root || !window.MedoaForms || !window.MedoaDesigner) {
    return;
  }
  const M = window.MedoaForms;
  const data = root.dataset;
  const form = document.getElementById('designer-form');
  const setStatus = M.statusWriter(document.getElementById('designer-status'));
  const problemsBox = document.getElementById('designer-problems');
  const problemList = document.getElementById('designer-problem-list');
  const upload = document.getElementById('designer-upload');
  const previewButton = document.getElementById('designer-preview');
  const previewBox = document.getElementById('designer-preview-box');
  const previewStatus = document.getElementById('designer-preview-status');
  const previewData = document.getElementById('designer-preview-data');

  M.configure({
    language: data.language,
    csrfToken: M.csrfToken(),
    staffSearchUrl: data.staffSearchUrl,
    departmentSearchUrl: data.departmentSearchUrl,
    uploadUrl: data.uploadUrl,
    downloadUrl: data.downloadUrl,
  });

  const editor = M.createDesigner({ container: '#designer-editor', language: data.language });
  let preview = null;
  let dirty = false;
  let busy = false;

  function clearProblems() {
    problemList.replaceChildren();
    problemsBox.hidden = true;
  }

  // "components[2].validate.min" → the component at that place in the schema, if any
  function componentAt(schema, path) {
    const parts = M.parsePath(path);
    let node = schema;
    let found = null;
    for (const part of parts) {
      if (node === null || typeof node !== 'object' || !(part in node)) {
        break;
      }
      node = node[part];
      if (node && typeof node === 'object' && !Array.isArray(node) && node.type && node.id) {
        found = node;
      }
    }
    return found;
  }

  function selectComponent(id) {
    const field = editor.get('formFieldRegistry').get(id);
    if (field) {
      editor.get('selection').set(field);
    }
  }

  function showProblems(problems, heading) {
    clearProblems();
    if (!problems.length) {
      return;
    }
    problemsBox.querySelector('h2').textContent = heading || data.msgProblems;
    const schema = editor.saveSchema();
    problems.forEach(function (problem) {
      const item = document.createElement('li');
      const component = problem.path ? componentAt(schema, problem.path) : null;
      const where = component ? component.label || component.key || component.id : problem.path || '';
      if (component) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'forms-problem-link';
        button.dataset.componentId = component.id;
        const label = document.createElement('strong');
        label.textContent = where;
        button.append(label, document.createTextNode(' ' + (problem.message || '')));
        button.addEventListener('click', function () {
          selectComponent(component.id);
        });
        item.append(button);
      } else {
        if (where) {
          const code = document.createElement('code');
          code.textContent = where;
          item.append(code, document.createTextNode(' '));
        }
        item.append(document.createTextNode(problem.message || ''));
      }
      item.dataset.path = problem.path || '';
      problemList.append(item);
    });
    problemsBox.hidden = false;
  }

  function postJson(url, body) {
    return M.postJson(url, body, data.msgFailed);
  }

  function saveBody() {
    return { schema: editor.saveSchema(), name: document.getElementById('designer-name').value };
  }

  function refused(answer) {
    setStatus(answer.message || data.msgProblems, 'error');
    const problems = answer.problems || (answer.errors || []).map(function (e) {
      return { path: e.field, message: e.message };
    });
    showProblems(problems);
  }

  async function run(pending, work) {
    if (busy) {
      return;
    }
    busy = true;
    root.classList.add('forms-busy');
    setStatus(pending);
    try {
      await work();
    } catch (err) {
      setStatus(err.message || data.msgFailed, 'error');
    } finally {
      busy = false;
      root.classList.remove('forms-busy');
    }
  }

  function save() {
    return run(data.msgSaving, async function () {
      const answer = await postJson(data.saveUrl, saveBody());
      if (!answer.ok) {
        refused(answer);
        return;
      }
      clearProblems();
      dirty = false;
      setStatus(answer.message, 'ok');
    });
  }

  // publish what is on the screen: save it as the draft, then publish the draft
  function publish() {
    return run(data.msgPublishing, async function () {
      const saved = await postJson(data.saveUrl, saveBody());
      if (!saved.ok) {
        refused(saved);
        return;
      }
      dirty = false;
      const answer = await postJson(data.publishUrl, {});
      if (!answer.ok) {
        refused(answer);
        return;
      }
      clearProblems();
      setStatus(answer.message, 'ok');
      root.dataset.publishedVersion = String(answer.version);
    });
  }

  document.getElementById('designer-save').addEventListener('click', save);
  document.getElementById('designer-publish').addEventListener('click', publish);

  async function openSchema(schema) {
    // form-js needs the root's type; schemas written by hand often leave it out
    const result = await editor.importSchema(schema.type ? schema : Object.assign({ type: 'default' }, schema));
    clearProblems();
    const warnings = (result && result.warnings) || [];
    if (warnings.length) {
      showProblems(
        warnings.map(function (w) {
          return { message: w.message || String(w) };
        }),
        data.msgImportFailed,
      );
    }
  }

  upload.addEventListener('change', async function () {
    const file = upload.files && upload.files[0];
    upload.value = '';
    if (!file) {
      return;
    }
    if (file.size > MAX_BYTES) {
      setStatus(data.msgTooBig, 'error');
      return;
    }
    let schema = null;
    try {
      schema = JSON.parse(await file.text());
    } catch (err) {
      schema = null;
    }
    if (!schema || typeof schema !== 'object' || !Array.isArray(schema.components)) {
      setStatus(data.msgNotJson, 'error');
      return;
    }
    try {
      await openSchema(schema);
      dirty = true;
      setStatus(data.msgLoaded, 'ok');
      refreshPreview();
    } catch (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    }
  });

  document.getElementById('designer-download').addEventListener('click', function (event) {
    const text = JSON.stringify(editor.saveSchema(), null, 2);
    window.MedoaDesigner.download(text, 'application/json', event.currentTarget.dataset.filename || 'form.form');
  });

  // --- preview ---------------------------------------------------------------------------------

  function refreshPreview() {
    if (previewBox.hidden) {
      return;
    }
    if (!preview) {
      preview = M.createViewer({ container: '#designer-preview-form', language: data.language });
      preview.on('changed', function (event) {
        previewData.textContent = JSON.stringify(event.data || {}, null, 2);
      });
    }
    previewStatus.textContent = '';
    preview.importSchema(editor.saveSchema()).catch(function (err) {
      previewStatus.textContent = data.msgImportFailed + ' ' + (err.message || err);
    });
  }

  previewButton.addEventListener('click', function () {
    previewBox.hidden = !previewBox.hidden;
    previewButton.setAttribute('aria-pressed', previewBox.hidden ? 'false' : 'true');
    refreshPreview();
    if (!previewBox.hidden) {
      previewBox.scrollIntoView({ block: 'nearest' });
    }
  });

  document.getElementById('designer-preview-check').addEventListener('click', function () {
    if (!preview) {
      return;
    }
    const result = preview.submit();
    const count = Object.keys(result.errors || {}).length;
    previewStatus.textContent = count ? '' : data.msgPreviewValid;
    previewData.textContent = JSON.stringify(result.data || {}, null, 2);
  });

  editor.on('changed', function () {
    dirty = true;
  });
  editor.on('changed', 500, function () {
    if (!previewBox.hidden) {
      clearTimeout(refreshPreview.timer);
      refreshPreview.timer = setTimeout(refreshPreview, 300);
    }
  });
  form.addEventListener('input', function () {
    dirty = true;
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
  });
  window.MedoaDesigner.guardUnsaved(function () {
    return dirty;
  }, data.msgUnsaved);

  fetch(data.schemaUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error(data.msgFailed + ' (' + response.status + ')');
      }
      return response.json();
    })
    .then(openSchema)
    .then(function () {
      dirty = false;
      root.classList.add('forms-ready');
    })
    .catch(function (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    });
})();
