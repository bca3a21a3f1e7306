// The start page of a request type (approvals/request_start.html): the type's start form in the
// form engine's viewer (window.MedoaForms, as the form engine's own fill page), the attachments
// uploaded by its fields through the form engine; "Submit" runs the viewer's checks, then posts
// {data, version} — the API's "data" — to the page. The server's errors show beside their fields
// (line items by row: items.2.amount), those naming no field above the form.
(function () {
  'use strict';

  const root = document.getElementById('approvals-start');
  if (!root || !window.MedoaForms) {
    return;
  }
  const M = window.MedoaForms;
  const data = root.dataset;
  const setStatus = M.statusWriter(document.getElementById('approvals-start-status'));
  M.configurePage(data, 'approvals-form-names');
  const schema = M.readJson('approvals-form-schema', { components: [] });

  const viewer = M.createViewer({ container: '#approvals-start-viewer', language: data.language });
  viewer
    .importSchema(schema, {})
    .then(function () {
      root.classList.add('forms-ready');
    })
    .catch(function (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    });

  // computed fields (the total of the line items): form-js computes them but shows nothing, so
  // their values are written under the form as they change
  const computed = (schema.components || []).filter(function (c) {
    return c && c.type === 'expression' && c.key && c.label;
  });
  const shown = document.getElementById('approvals-start-computed');
  function showComputed(values) {
    if (!shown) {
      return;
    }
    shown.replaceChildren();
    computed.forEach(function (c) {
      const value = values ? values[c.key] : null;
      const row = document.createElement('div');
      row.dataset.key = c.key;
      const term = document.createElement('dt');
      term.textContent = c.label;
      const text = document.createElement('dd');
      text.textContent =
        typeof value === 'number' && isFinite(value)
          ? value.toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
          : '—';
      row.append(term, text);
      shown.append(row);
    });
    shown.hidden = computed.length === 0;
  }
  viewer.on('changed', function (event) {
    showComputed(event.data);
  });
  showComputed({});

  // top-level single-file fields ("multiple": false, e.g. the contract file): the widget keeps a
  // list; the data holds one id
  const single = (schema.components || [])
    .filter(function (c) {
      return c && c.type === 'medoa-attachment' && c.multiple === false && c.key;
    })
    .map(function (c) {
      return c.key;
    });

  // fields the form marks "doNotSubmit" (the computed total) are not data: the viewer sends them
  // all the same, the server would refuse them
  const notData = (schema.components || [])
    .filter(function (c) {
      return c && c.doNotSubmit && c.key;
    })
    .map(function (c) {
      return c.key;
    });

  function payload(values) {
    const out = Object.assign({}, values);
    notData.forEach(function (key) {
      delete out[key];
    });
    single.forEach(function (key) {
      const value = out[key];
      if (Array.isArray(value)) {
        if (value.length === 0) {
          delete out[key];
        } else if (value.length === 1) {
          out[key] = value[0];
        }
      }
    });
    return out;
  }

  const listErrors = M.errorLister(document.getElementById('approvals-start-errors'), function (field) {
    return M.labelFor(viewer, field);
  });

  M.submitThrough({
    viewer: viewer,
    button: document.getElementById('submit-request'),
    dataset: data,
    setStatus: setStatus,
    listErrors: listErrors,
    firstError: function () {
      M.focusFirstError(root, '.fjs-has-errors, #approvals-start-errors:not([hidden])');
    },
    body: payload,
    next: function (answer) {
      return answer.url;
    },
    // field errors beside their fields (those no field carries, and the general ones, above)
    showErrors: function (answer) {
      const errors = (answer.errors || []).filter(function (error) {
        return error.field;
      });
      const general = (answer.errors || []).filter(function (error) {
        return !error.field;
      });
      let listed = M.showServerErrors(viewer, errors).concat(general);
      if (!listed.length && !errors.length) {
        listed = [{ field: '', message: answer.message }];
      }
      listErrors(listed);
      return errors.length ? data.msgFix : answer.message;
    },
  });
})();
