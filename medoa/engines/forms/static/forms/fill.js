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

  const listErrors = M.errorLister(document.getElementById('fill-errors'), function (field) {
    return M.labelFor(viewer, field);
  });

  M.submitThrough({
    viewer: viewer,
    button: document.getElementById('fill-submit'),
    dataset: data,
    setStatus: setStatus,
    listErrors: listErrors,
    firstError: function () {
      M.focusFirstError(root, '.fjs-has-errors, #fill-errors:not([hidden])');
    },
    body: function (values) {
      return values;
    },
    next: function (answer) {
      return answer.record_url;
    },
    // the server's errors beside their fields; those no field carries above the form
    showErrors: function (answer) {
      const errors = answer.errors || [];
      const unplaced = M.showServerErrors(viewer, errors);
      listErrors(errors.length ? unplaced : [{ field: '', message: answer.message }]);
      return errors.length ? data.msgFix : answer.message;
    },
  });
})();
