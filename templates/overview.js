// The confusion overview (many classes): names the cell under the pointer and follows a click to the
// pair. Reads only the page's own #overview-data block. Allowed by the Content-Security-Policy hash.
(function () {
  "use strict";
  var img = document.getElementById("overview-img");
  var source = document.getElementById("overview-data");
  if (!img || !source) { return; }
  var tip = document.getElementById("overview-tip");
  var readout = document.getElementById("overview-readout");
  var data = null, cells = null;
  function load() {
    // Parsed on first use: a 1,000-class matrix has tens of thousands of cells.
    if (data) { return; }
    data = JSON.parse(source.textContent);
    cells = new Map();
    var flat = data.cells, n = data.classes.length;
    for (var k = 0; k + 2 < flat.length; k += 3) { cells.set(flat[k] * n + flat[k + 1], flat[k + 2]); }
  }
  function cellAt(event) {
    load();
    var box = img.getBoundingClientRect(), n = data.classes.length;
    var col = Math.floor((event.clientX - box.left) / box.width * n);
    var row = Math.floor((event.clientY - box.top) / box.height * n);
    if (row < 0 || col < 0 || row >= n || col >= n) { return null; }
    var count = cells.get(row * n + col) || 0;
    return { row: row, col: col, count: count, link: data.links[row + "," + col] || null };
  }
  function describe(cell) {
    var t = data.classes[cell.row], p = data.classes[cell.col], support = data.support[cell.row];
    var share = support ? " (" + (100 * cell.count / support).toFixed(1) + "% of " + t + ")" : "";
    return (cell.row === cell.col ? "true " + t + " predicted right: " : "true " + t + " → predicted " + p + ": ") +
      cell.count + share + (cell.link ? " · click for the pair" : "");
  }
  img.addEventListener("mousemove", function (event) {
    var cell = cellAt(event);
    if (!cell) { tip.hidden = true; return; }
    var text = describe(cell);
    tip.textContent = text;
    readout.textContent = text;
    readout.setAttribute("data-true", data.classes[cell.row]);
    readout.setAttribute("data-pred", data.classes[cell.col]);
    readout.setAttribute("data-count", String(cell.count));
    var box = img.getBoundingClientRect();
    tip.style.left = (event.clientX - box.left + 14) + "px";
    tip.style.top = (event.clientY - box.top + 14) + "px";
    tip.hidden = false;
    img.style.cursor = cell.link ? "pointer" : "crosshair";
  });
  img.addEventListener("mouseleave", function () { tip.hidden = true; });
  img.addEventListener("click", function (event) {
    var cell = cellAt(event);
    if (cell && cell.link) { location.hash = cell.link; }
  });
})();
