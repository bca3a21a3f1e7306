// The process designer page: the bpmn-js modeler with the Camunda 7 properties panel (from the
// MedoaBpmn bundle), save draft, deploy with the list of problems, upload and download.
// No inline script anywhere (CSP script-src 'self'): the URLs and texts come from data-* attributes.
(function () {
  'use strict';

  const MAX_BYTES = 5 * 1024 * 1024;
  const root = document.getElementById('designer');
  if (!root || !window.MedoaBpmn || !window.MedoaDesigner) {
    return;
  }
  const data = root.dataset;
  const form = document.getElementById('designer-form');
  const csrfToken = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const statusLine = document.getElementById('designer-status');
  const problemsBox = document.getElementById('designer-problems');
  const problemList = document.getElementById('designer-problem-list');
  const upload = document.getElementById('designer-upload');

  const modeler = window.MedoaBpmn.createDesigner({
    container: '#designer-canvas',
    propertiesParent: '#designer-properties',
    language: data.language,
  });
  const canvas = modeler.get('canvas');
  const elementRegistry = modeler.get('elementRegistry');
  const selection = modeler.get('selection');

  let dirty = false;
  let marked = [];
  let busy = false;

  function setStatus(text, kind) {
    statusLine.textContent = text || '';
    statusLine.className = 'flow-status' + (kind ? ' flow-status-' + kind : '');
  }

  function clearProblems() {
    marked.forEach(function (id) {
      if (elementRegistry.get(id)) {
        canvas.removeMarker(id, 'flow-problem');
      }
    });
    marked = [];
    problemList.replaceChildren();
    problemsBox.hidden = true;
  }

  function selectElement(id) {
    const element = elementRegistry.get(id);
    if (!element) {
      return;
    }
    selection.select(element);
    canvas.scrollToElement(element);
  }

  function showProblems(problems, heading) {
    clearProblems();
    if (!problems.length) {
      return;
    }
    problemsBox.querySelector('h2').textContent = heading || data.msgProblems;
    problems.forEach(function (problem) {
      const item = document.createElement('li');
      let text = problem.message || '';
      if (problem.line) {
        text += ' (' + problem.line + ')';
      }
      if (problem.element_id && elementRegistry.get(problem.element_id)) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'flow-problem-link';
        button.dataset.elementId = problem.element_id;
        const idLabel = document.createElement('code');
        idLabel.textContent = problem.element_id;
        button.append(idLabel, document.createTextNode(' ' + text));
        button.addEventListener('click', function () {
          selectElement(problem.element_id);
        });
        item.append(button);
        if (marked.indexOf(problem.element_id) < 0) {
          canvas.addMarker(problem.element_id, 'flow-problem');
          marked.push(problem.element_id);
        }
      } else {
        if (problem.element_id) {
          const idLabel = document.createElement('code');
          idLabel.textContent = problem.element_id;
          item.append(idLabel, document.createTextNode(' '));
        }
        item.append(document.createTextNode(text));
      }
      problemList.append(item);
    });
    problemsBox.hidden = false;
  }

  function fitDiagram() {
    canvas.zoom('fit-viewport', 'auto');
    if (canvas.zoom() > 1) {
      canvas.zoom(1, 'auto');
    }
  }

  async function openXml(xml) {
    let laidOut = false;
    if (!window.MedoaBpmn.hasDiagram(xml)) {
      xml = await window.MedoaBpmn.layoutProcess(xml);
      laidOut = true;
    }
    const result = await modeler.importXML(xml);
    clearProblems();
    fitDiagram();
    const warnings = (result.warnings || []).map(function (w) {
      return { message: w.message, element_id: w.element && w.element.id };
    });
    if (warnings.length) {
      showProblems(warnings, data.msgImportFailed);
    }
    return laidOut;
  }

  async function post(url) {
    const saved = await modeler.saveXML({ format: true });
    const body = new FormData(form);
    body.set('xml', saved.xml);
    const response = await fetch(url, {
      method: 'POST',
      body: body,
      credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrfToken, Accept: 'application/json' },
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

  async function submit(url, pending) {
    if (busy) {
      return;
    }
    busy = true;
    root.classList.add('flow-busy');
    setStatus(pending);
    try {
      const answer = await post(url);
      if (answer.ok) {
        clearProblems();
        dirty = false;
        setStatus(answer.message, 'ok');
      } else {
        setStatus(data.msgProblems, 'error');
        showProblems(answer.problems || []);
      }
    } catch (err) {
      setStatus(err.message || data.msgFailed, 'error');
    } finally {
      busy = false;
      root.classList.remove('flow-busy');
    }
  }

  document.getElementById('designer-save').addEventListener('click', function () {
    submit(data.saveUrl, data.msgSaving);
  });
  document.getElementById('designer-deploy').addEventListener('click', function () {
    submit(data.deployUrl, data.msgDeploying);
  });

  upload.addEventListener('change', async function () {
    const file = upload.files && upload.files[0];
    upload.value = '';
    if (!file) {
      return;
    }
    if (!/\.(bpmn|xml)$/i.test(file.name)) {
      setStatus(data.msgNotBpmn, 'error');
      return;
    }
    if (file.size > MAX_BYTES) {
      setStatus(data.msgTooBig, 'error');
      return;
    }
    try {
      const laidOut = await openXml(await file.text());
      dirty = true;
      setStatus(laidOut ? data.msgLaidOut : data.msgLoaded, 'ok');
    } catch (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    }
  });

  document.getElementById('designer-download').addEventListener('click', async function (event) {
    const filename = event.currentTarget.dataset.filename || 'process.bpmn';
    const saved = await modeler.saveXML({ format: true });
    window.MedoaDesigner.download(saved.xml, 'application/xml', filename);
  });

  modeler.on('commandStack.changed', function () {
    dirty = true;
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

  fetch(data.xmlUrl, { credentials: 'same-origin' })
    .then(function (response) {
      if (!response.ok) {
        throw new Error(data.msgFailed + ' (' + response.status + ')');
      }
      return response.text();
    })
    .then(openXml)
    .then(function () {
      dirty = false;
      root.classList.add('flow-ready');
    })
    .catch(function (err) {
      setStatus(data.msgImportFailed + ' ' + (err.message || err), 'error');
    });
})();
