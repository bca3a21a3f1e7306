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
  const setStatus = M.statusWriter(document.getElementById('fill-status'));
  M.configurePage(data, 'form-names');

  const viewer = M.createViewer({ container: '#fill-viewer', language: data.language, readOnly: readOnly });
  viewer
    .importSchema(M.readJson('form-schema', { components: [] }), M.readJson('form-data', {}))
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

  const listErrors = M.errorLister(document.getElementById('fill-errors'), function (field) {
    return M.labelFor(viewer, field);
  });

  function firstError() {
    M.focusFirstError(root, '.fjs-has-errors, #fill-errors:not([hidden])');
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
      const answer = await M.postJson(
        data.postUrl,
        { data: result.data, version: Number(data.version) },
        data.msgFailed,
      );
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
