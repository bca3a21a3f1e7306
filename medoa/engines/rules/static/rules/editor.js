// The decision table editor page: the dmn-js modeler (from the MedoaDmn bundle), deploy with the
// list of problems, upload and download, and the test panel that evaluates the deployed version on
// sample inputs and marks the rules that matched.
// No inline script anywhere (CSP script-src 'self'): URLs and texts come from data-* attributes.
(function () {
  'use strict';

  const MAX_BYTES = 2 * 1024 * 1024;
  const root = document.getElementById('dmn-editor');
  if (!root || !window.MedoaDmn) {
    return;
  }
  const data = root.dataset;
  const csrfToken = document.querySelector('#dmn-test-form input[name="csrfmiddlewaretoken"]').value;
  const statusLine = document.getElementById('dmn-status');
  const problemsBox = document.getElementById('dmn-problems');
  const problemList = document.getElementById('dmn-problem-list');
  const viewsBar = document.getElementById('dmn-views');
  const upload = document.getElementById('dmn-upload');
  const testForm = document.getElementById('dmn-test-form');
  const decisionSelect = document.getElementById('dmn-test-decision');
  const inputsBox = document.getElementById('dmn-test-inputs');
  const message = document.getElementById('dmn-test-message');
  const outputsTitle = document.getElementById('dmn-outputs-title');
  const outputs = document.getElementById('dmn-outputs');
  const matchedTitle = document.getElementById('dmn-matched-title');
  const matchedList = document.getElementById('dmn-matched');

  const modeler = window.MedoaDmn.createEditor({ container: '#dmn-canvas', language: data.language });
  let dirty = false;
  let busy = false;
  let testable = [];
  let lastMatched = [];

  function setStatus(text, kind) {
    statusLine.textContent = text || '';
    statusLine.className = 'rules-status' + (kind ? ' rules-status-' + kind : '');
  }

  function showProblems(problems, heading) {
    problemList.replaceChildren();
    problemsBox.hidden = !problems.length;
    problemsBox.querySelector('h2').textContent = heading || data.msgProblems;
    problems.forEach(function (problem) {
      const item = document.createElement('li');
      if (problem.element_id || problem.element_type) {
        const where = document.createElement('code');
        where.textContent = [problem.element_type, problem.element_id].filter(Boolean).join(' ');
        item.append(where, document.createTextNode(' '));
      }
      item.append(document.createTextNode(problem.message + (problem.line ? ' (' + problem.line + ')' : '')));
      problemList.append(item);
    });
  }

  // --- views: the DRD and each decision ----------------------------------------------------------

  function viewLabel(view) {
    const element = view.element;
    return (element.name || element.id) + (view.type === 'drd' ? ' (DRD)' : '');
  }

  function renderViews() {
    const active = modeler.getActiveView();
    viewsBar.replaceChildren();
    modeler.getViews().forEach(function (view) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'btn btn-sm' + (active && active.element === view.element ? ' active' : '');
      button.dataset.viewId = view.element.id;
      button.dataset.viewType = view.type;
      button.textContent = viewLabel(view);
      button.addEventListener('click', function () {
        modeler.open(view);
      });
      viewsBar.append(button);
    });
  }

  function openDecision(key) {
    const view = modeler.getViews().find(function (v) {
      return v.type !== 'drd' && v.element.id === key;
    });
    if (view) {
      return modeler.open(view);
    }
    return Promise.resolve();
  }

  modeler.on('views.changed', function () {
    renderViews();
    markMatched();
  });

  function watchChanges() {
    const viewer = modeler.getActiveViewer();
    if (viewer && !viewer.medoaWatched) {
      viewer.medoaWatched = true;
      viewer.on('elements.changed', function () {
        dirty = true;
      });
    }
  }

  modeler.on('views.changed', watchChanges);

  async function openXml(xml, key) {
    const result = await modeler.importXML(xml);
    if (key) {
      await openDecision(key);
    } else {
      const first = modeler.getViews().find(function (v) {
        return v.type === 'decisionTable';
      });
      if (first) {
        await modeler.open(first);
      }
    }
    renderViews();
    watchChanges();
    const warnings = (result.warnings || []).map(function (w) {
      return { message: w.message };
    });
    showProblems(warnings, data.msgImportFailed);
  }

  // --- deploy ------------------------------------------------------------------------------------

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(body),
      credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrfToken, 'Content-Type': 'application/json', Accept: 'application/json' },
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
    return answer;
  }

  document.getElementById('dmn-deploy').addEventListener('click', async function () {
    if (busy) {
      return;
    }
    busy = true;
    root.classList.add('rules-busy');
    setStatus(data.msgDeploying);
    try {
      const saved = await modeler.saveXML({ format: true });
      const answer = await postJson(data.deployUrl, { xml: saved.xml });
      if (answer.ok) {
        dirty = false;
        showProblems([]);
        setStatus(answer.message, 'ok');
        setTestable(answer.decisions, currentKey());
        if (!data.key && answer.decisions.length) {
          history.replaceState(null, '', answer.decisions[0].editor_url);
        }
      } else {
        setStatus(data.msgProblems, 'error');
        showProblems(answer.problems || []);
      }
    } catch (err) {
      setStatus(err.message || data.msgFailed, 'error');
    } finally {
      busy = false;
      root.classList.remove('rules-busy');
    }
  });

  upload.addEventListener('change', async function () {
    const file = upload.files && upload.files[0];
    upload.value = '';
    if (!file || file.size > MAX_BYTES) {
      return;
    }
    try {
      await openXml(await file.text(), null);
      dirty = true;
    } catch (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    }
  });

  document.getElementById('dmn-download').addEventListener('click', async function (event) {
    const saved = await modeler.saveXML({ format: true });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([saved.xml], { type: 'application/xml' }));
    link.download = event.currentTarget.dataset.filename || 'decision.dmn';
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () {
      URL.revokeObjectURL(link.href);
    }, 1000);
  });

  // --- test panel ----------------------------------------------------------------------------------

  function currentKey() {
    const view = modeler.getActiveView();
    return view && view.type !== 'drd' ? view.element.id : data.key;
  }

  function setTestable(decisions, preferred) {
    testable = decisions || [];
    decisionSelect.replaceChildren();
    testable.forEach(function (decision) {
      const option = document.createElement('option');
      option.value = decision.key;
      option.textContent = decision.name + ' (' + decision.key + (decision.version ? ' v' + decision.version : '') + ')';
      decisionSelect.append(option);
    });
    if (preferred && testable.some(function (d) { return d.key === preferred; })) {
      decisionSelect.value = preferred;
    }
    renderInputs();
    message.textContent = testable.length ? '' : data.msgDeployFirst;
    document.getElementById('dmn-evaluate').disabled = !testable.length;
  }

  function selected() {
    return testable.find(function (d) {
      return d.key === decisionSelect.value;
    });
  }

  function renderInputs() {
    const keep = {};
    inputsBox.querySelectorAll('input').forEach(function (field) {
      keep[field.dataset.name] = field.value;
    });
    inputsBox.replaceChildren();
    const decision = selected();
    if (!decision) {
      return;
    }
    const names = [];
    decision.inputs.forEach(function (input, index) {
      const name = input.expression;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || names.indexOf(name) >= 0) {
        return;
      }
      names.push(name);
      const row = document.createElement('div');
      row.className = 'form-row';
      const label = document.createElement('label');
      label.htmlFor = 'dmn-input-' + index;
      label.textContent = input.label && input.label !== name ? input.label + ' (' + name + ')' : name;
      const field = document.createElement('input');
      field.type = 'text';
      field.id = 'dmn-input-' + index;
      field.dataset.name = name;
      field.value = keep[name] || '';
      row.append(label, field);
      inputsBox.append(row);
    });
  }

  function parseValue(text) {
    if (text.trim() === '') {
      return null;
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      return text;
    }
  }

  function markMatched() {
    document.querySelectorAll('#dmn-canvas td.rules-matched').forEach(function (cell) {
      cell.classList.remove('rules-matched');
    });
    lastMatched.forEach(function (id) {
      document.querySelectorAll('#dmn-canvas td[data-row-id="' + CSS.escape(id) + '"]').forEach(function (cell) {
        cell.classList.add('rules-matched');
      });
    });
  }

  decisionSelect.addEventListener('change', renderInputs);

  testForm.addEventListener('submit', async function (event) {
    event.preventDefault();
    const decision = selected();
    if (!decision) {
      return;
    }
    const inputs = {};
    inputsBox.querySelectorAll('input').forEach(function (field) {
      inputs[field.dataset.name] = parseValue(field.value);
    });
    message.textContent = data.msgEvaluating;
    message.className = '';
    outputs.hidden = outputsTitle.hidden = matchedList.hidden = matchedTitle.hidden = true;
    try {
      const answer = await postJson(decision.evaluate_url, { inputs: inputs });
      if (!answer.ok) {
        message.textContent = answer.error;
        message.className = 'rules-test-error';
        lastMatched = answer.rule_ids || [];
        markMatched();
        return;
      }
      message.textContent = answer.matched_rules.length ? '' : data.msgNoMatch;
      outputs.textContent = JSON.stringify(answer.outputs, null, 2);
      outputs.hidden = outputsTitle.hidden = false;
      matchedList.replaceChildren();
      answer.matched_rules.forEach(function (rule) {
        const item = document.createElement('li');
        item.dataset.ruleId = rule.id;
        item.textContent = data.msgRule + ' ' + rule.number + ' (' + rule.id + '): ' + JSON.stringify(rule.outputs);
        matchedList.append(item);
      });
      matchedList.hidden = matchedTitle.hidden = !answer.matched_rules.length;
      lastMatched = answer.matched_rules.map(function (rule) {
        return rule.id;
      });
      if (currentKey() !== decision.key) {
        await openDecision(decision.key);
      }
      markMatched();
    } catch (err) {
      message.textContent = err.message || data.msgFailed;
      message.className = 'rules-test-error';
    }
  });

  window.addEventListener('beforeunload', function (event) {
    if (dirty) {
      event.preventDefault();
      event.returnValue = data.msgUnsaved;
    }
  });

  const initial = JSON.parse(document.getElementById('dmn-initial').textContent || '[]');
  setTestable(initial, data.key);

  fetch(data.xmlUrl, { credentials: 'same-origin' })
    .then(function (response) {
      if (!response.ok) {
        throw new Error(data.msgFailed + ' (' + response.status + ')');
      }
      return response.text();
    })
    .then(function (xml) {
      return openXml(xml, data.key);
    })
    .then(function () {
      dirty = false;
      root.classList.add('rules-ready');
    })
    .catch(function (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    });
})();
