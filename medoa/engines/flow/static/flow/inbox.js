// The to-do inbox: "select all" for batch approval.
(function () {
  'use strict';
  const all = document.getElementById('select-all');
  if (!all) {
    return;
  }
  const boxes = function () {
    return document.querySelectorAll('#inbox-table input[name="task_ids"]');
  };
  all.addEventListener('change', function () {
    boxes().forEach(function (box) {
      box.checked = all.checked;
    });
  });
  document.getElementById('inbox-table').addEventListener('change', function (event) {
    if (event.target.name === 'task_ids') {
      const list = Array.from(boxes());
      all.checked = list.length > 0 && list.every(function (box) {
        return box.checked;
      });
    }
  });
})();
