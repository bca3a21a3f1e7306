// A MedOA form on the process pages (flow/_step_form.html), with the form engine's viewer
// (window.MedoaForms). The schema, data, names and the server's errors come in
// <script type="application/json"> blocks (data, not code: the CSP allows them).
//
// data-mode="start": the start page. "Start" runs the viewer's checks, then posts JSON
//   {title, business_key, data, version} to the start URL; the server's errors show beside their
//   fields (title and business key ones beside those inputs), or it sends us to the instance.
// data-mode="task": the task page. Approve / complete / reject run the viewer's checks, put the
//   form's data into the decision form's hidden "form_data" field and send that form as it is
//   (comment and attachments included). The server's errors come back on the re-rendered page.
// data-mode="read": the form shown read-only.
(function () {
  'use strict';

  const root = document.getElementById('flow-form');
  if (!root || !window.MedoaForms) {
    return;
  }
  const M = window.MedoaForms;
  const data = root.dataset;
  const mode = data.mode;
  const setStatus = M.statusWriter(document.getElementById('flow-form-status'));
  M.configurePage(data, 'flow-form-names');

  const listErrors = M.errorLister(document.getElementById('flow-form-errors'), function (field) {
    return M.labelFor(viewer, field);
  });

  function firstError() {
    M.focusFirstError(document, '.fjs-has-errors, #flow-form-errors:not([hidden]), .has-error');
  }

  function showServerErrors(errors) {
    const unplaced = M.showServerErrors(viewer, errors);
    listErrors(unplaced);
    return unplaced;
  }

  const viewer = M.createViewer({
    container: '#flow-form-viewer',
    language: data.language,
    readOnly: mode === 'read',
  });
  viewer
    .importSchema(M.readJson('flow-form-schema', { components: [] }), M.readJson('flow-form-data', {}))
    .then(function () {
      root.classList.add('forms-ready');
      const errors = M.readJson('flow-form-server-errors', []);
      if (errors.length) {
        showServerErrors(errors);
        setStatus(data.msgFix, 'error');
        firstError();
      }
    })
    .catch(function (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    });

  if (mode === 'read') {
    return;
  }

  // --- the start page -------------------------------------------------------------------------

  function fieldInput(name) {
    return document.getElementById('id_' + name);
  }

  function clearInputErrors() {
    document.querySelectorAll('#start-form .field-error[data-js]').forEach(function (element) {
      element.remove();
    });
    document.querySelectorAll('#start-form .has-error').forEach(function (element) {
      element.classList.remove('has-error');
    });
  }

  function inputError(name, message) {
    const input = fieldInput(name);
    if (!input) {
      return false;
    }
    const row = input.closest('.form-row');
    const span = document.createElement('span');
    span.className = 'field-error';
    span.dataset.field = name;
    span.dataset.js = '1';
    span.textContent = message;
    (row || input.parentElement).append(span);
    if (row) {
      row.classList.add('has-error');
    }
    return true;
  }

  let busy = false;

  async function start(result) {
    listErrors([]);
    clearInputErrors();
    if (Object.keys(result.errors || {}).length) {
      setStatus(data.msgFix, 'error');
      firstError();
      return;
    }
    const button = document.getElementById('flow-form-submit');
    busy = true;
    button.disabled = true;
    setStatus(data.msgSending);
    try {
      const title = fieldInput('title');
      const businessKey = fieldInput('business_key');
      const answer = await M.postJson(
        data.postUrl,
        {
          title: title ? title.value : '',
          business_key: businessKey ? businessKey.value : '',
          data: result.data,
          version: Number(data.version),
        },
        data.msgFailed,
      );
      if (answer.ok) {
        window.location.assign(answer.url);
        return;
      }
      const errors = answer.errors || [];
      const onInputs = errors.filter(function (error) {
        return String(error.field || '').charAt(0) === '@';
      });
      onInputs.forEach(function (error) {
        inputError(error.field.slice(1), error.message);
      });
      const onForm = errors.filter(function (error) {
        return onInputs.indexOf(error) < 0;
      });
      if (onForm.length) {
        showServerErrors(onForm);
      } else if (!onInputs.length) {
        listErrors([{ field: '', message: answer.message }]);
      }
      setStatus(errors.length ? data.msgFix : answer.message, 'error');
      firstError();
    } catch (err) {
      setStatus(err.message || data.msgFailed, 'error');
    } finally {
      busy = false;
      button.disabled = false;
    }
  }

  if (mode === 'start') {
    viewer.on('submit', function (event) {
      if (!busy) {
        start(event);
      }
    });
    document.getElementById('flow-form-submit').addEventListener('click', function () {
      if (!busy) {
        viewer.submit();
      }
    });
    const startForm = document.getElementById('start-form');
    if (startForm) {
      // Enter in the title or business key starts through the viewer too
      startForm.addEventListener('submit', function (event) {
        event.preventDefault();
        if (!busy) {
          viewer.submit();
        }
      });
    }
    return;
  }

  // --- the task page --------------------------------------------------------------------------

  const decide = document.getElementById('form-decide');
  const hidden = document.getElementById('decide-form-data');
  if (!decide || !hidden) {
    return;
  }
  let ready = false;
  decide.addEventListener('submit', function (event) {
    if (ready) {
      return; // the data is in: let the browser send the form
    }
    event.preventDefault();
    const result = viewer.submit();
    listErrors([]);
    if (result && Object.keys(result.errors || {}).length) {
      setStatus(data.msgFix, 'error');
      firstError();
      return;
    }
    hidden.value = JSON.stringify((result && result.data) || {});
    ready = true;
    setStatus(data.msgSending);
    // (a submission requested while the submit event is being dispatched is ignored: go next turn)
    const submitter = event.submitter;
    window.setTimeout(function () {
      if (submitter && decide.requestSubmit) {
        decide.requestSubmit(submitter);
      } else {
        decide.submit();
      }
    }, 0);
  });
})();
