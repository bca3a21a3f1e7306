// The diagram of an instance (task and instance pages): the bpmn-js navigated viewer from the
// MedoaBpmn bundle, with done, active and waiting elements coloured by markers, and the sequence
// flows taken drawn as the path (markers on connections, styled in flow.css).
(function () {
  'use strict';

  const MARKERS = {
    done: 'flow-done',
    active: 'flow-active',
    waiting: 'flow-waiting',
    flows: 'flow-taken',
  };

  function show(container) {
    const data = container.dataset;
    const canvasEl = container.querySelector('.flow-viewer-canvas');
    const note = container.querySelector('.flow-viewer-note');
    const viewer = window.MedoaBpmn.createViewer({ container: canvasEl, language: data.language });
    fetch(data.diagramUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(async function (state) {
        let xml = state.xml;
        if (!window.MedoaBpmn.hasDiagram(xml)) {
          xml = await window.MedoaBpmn.layoutProcess(xml);
        }
        await viewer.importXML(xml);
        const canvas = viewer.get('canvas');
        const registry = viewer.get('elementRegistry');
        Object.keys(MARKERS).forEach(function (kind) {
          (state[kind] || []).forEach(function (id) {
            if (registry.get(id)) {
              canvas.addMarker(id, MARKERS[kind]);
            }
          });
        });
        canvas.zoom('fit-viewport', 'auto');
        if (canvas.zoom() > 1.2) {
          canvas.zoom(1.2, 'auto');
        }
        container.classList.add('flow-ready');
      })
      .catch(function (err) {
        note.textContent = data.msgFailed + ' ' + (err.message || '');
        note.hidden = false;
        container.classList.add('flow-failed');
      });
  }

  function start() {
    if (!window.MedoaBpmn) {
      return;
    }
    document.querySelectorAll('.flow-viewer[data-diagram-url]').forEach(show);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
