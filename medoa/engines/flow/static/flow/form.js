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
  const statusLine = document.getElementById('flow-form-status');
  const errorList = document.getElementById('flow-form-errors');
  const tokenInput = document.querySelector('input[name="csrfmiddlewaretoken"]');

  function json(id, fallback) {
    const element = document.getElementById(id);
    if (!element) {
      return fallback;
    }
    try {
      const value = JSON.parse(element.textContent);
      return value === null ? fallback : value;
    } catch (err) {
      return fallback;
    }
  }

  const names = json('flow-form-names', {});
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
    const element = document.querySelector('.fjs-has-errors, #flow-form-errors:not([hidden]), .has-error');
    if (element) {
      element.scrollIntoView({ block: 'center' });
      const input = element.querySelector('input, textarea, select, button');
      if (input) {
        input.focus({ preventScroll: true });
      }
    }
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
    .importSchema(json('flow-form-schema', { components: [] }), json('flow-form-data', {}))
    .then(function () {
      root.classList.add('forms-ready');
      const errors = json('flow-form-server-errors', []);
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
      const response = await fetch(data.postUrl, {
        method: 'POST',
        body: JSON.stringify({
          title: title ? title.value : '',
          business_key: businessKey ? businessKey.value : '',
          data: result.data,
          version: Number(data.version),
        }),
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
