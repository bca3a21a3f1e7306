// The fill page and the record page: the form-js viewer (MedoaForms bundle) on the schema and data
// the page carries in <script type="application/json"> blocks (json_script: data, not code, so the
// CSP allows them). The fill page submits the data as JSON; the server's errors show beside their
// fields, and those no field carries above the form.
(function () {
  'use strict';

  const root = document.getElementById('fill');
  if (!root || !window.MedoaForms) {
    return;
  }
  const M = window.MedoaForms;
  const data = root.dataset;
  const readOnly = data.mode === 'read';
  const statusLine = document.getElementById('fill-status');
  const errorList = document.getElementById('fill-errors');
  const tokenInput = document.querySelector('input[name="csrfmiddlewaretoken"]');

  function json(id, fallback) {
    const element = document.getElementById(id);
    if (!element) {
      return fallback;
    }
    try {
      return JSON.parse(element.textContent);
    } catch (err) {
      return fallback;
    }
  }

  const names = json('form-names', {});
  M.configure({
    language: data.language,
    csrfToken: tokenInput ? tokenInput.value : '',
    staffSearchUrl: data.staffSearchUrl,
    departmentSearchUrl: data.departmentSearchUrl,
    uploadUrl: data.uploadUrl,
    downloadUrl: data.downloadUrl,
    staff: names.staff || {},
    departments: names.departments || {},
    attachments: names.attachments || {},
  });

  function setStatus(text, kind) {
    statusLine.textContent = text || '';
    statusLine.className = 'forms-status' + (kind ? ' forms-status-' + kind : '');
  }

  const viewer = M.createViewer({ container: '#fill-viewer', language: data.language, readOnly: readOnly });
  viewer
    .importSchema(json('form-schema', { components: [] }), json('form-data', {}))
    .then(function () {
      root.classList.add('forms-ready');
    })
    .catch(function (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    });

  if (readOnly) {
    return;
  }

  const submitButton = document.getElementById('fill-submit');
  let busy = false;

  function listErrors(errors) {
    errorList.replaceChildren();
    errors.forEach(function (error) {
      const item = document.createElement('li');
      item.dataset.field = error.field || '';
      const label = error.field ? M.labelFor(viewer, error.field) : '';
      item.textContent = label ? label + '：' + error.message : error.message;
      errorList.append(item);
    });
    errorList.hidden = errors.length === 0;
  }

  function firstError() {
    const element = root.querySelector('.fjs-has-errors, #fill-errors:not([hidden])');
    if (element) {
      element.scrollIntoView({ block: 'center' });
      const input = element.querySelector('input, textarea, select, button');
      if (input) {
        input.focus({ preventScroll: true });
      }
    }
  }

  // every submit goes through the viewer (our button, or a submit button inside the schema): the
  // viewer's own checks run first (the same rules; the server checks again and decides)
  async function send(result) {
    listErrors([]);
    if (Object.keys(result.errors || {}).length) {
      setStatus(data.msgFix, 'error');
      firstError();
      return;
    }
    busy = true;
    submitButton.disabled = true;
    setStatus(data.msgSending);
    try {
      const response = await fetch(data.postUrl, {
        method: 'POST',
        body: JSON.stringify({ data: result.data, version: Number(data.version) }),
        credentials: 'same-origin',
        headers: {
          'X-CSRFToken': tokenInput.value,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
      });
      let answer = null;
      try {
        answer = await response.json();
      } catch (err) {
        answer = null;
      }
      if (!answer) {
        throw new Error(data.msgFailed + ' (' + response.status + ')');
      }
      if (answer.ok) {
        window.location.assign(answer.record_url);
        return;
      }
      const errors = answer.errors || [];
      const unplaced = M.showServerErrors(viewer, errors);
      listErrors(errors.length ? unplaced : [{ field: '', message: answer.message }]);
      setStatus(errors.length ? data.msgFix : answer.message, 'error');
      firstError();
    } catch (err) {
      setStatus(err.message || data.msgFailed, 'error');
    } finally {
      busy = false;
      submitButton.disabled = false;
    }
  }

  viewer.on('submit', function (event) {
    if (!busy) {
      send(event);
    }
  });
  submitButton.addEventListener('click', function () {
    if (!busy) {
      viewer.submit();
    }
  });
})();
