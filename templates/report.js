// The report's own script: sortable tables, and for long ones a name filter and pages. It reads
// nothing from the network and changes nothing but the order and visibility of table rows. Allowed
// by the page's Content-Security-Policy through its hash.
(function () {
  "use strict";
  function cellValue(row, index) {
    var text = row.cells[index].textContent.trim().replace(/[%,]/g, "");
    var number = parseFloat(text);
    return isNaN(number) ? text.toLowerCase() : number;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      th.tabIndex = 0;
      th.setAttribute("role", "button");
      th.setAttribute("aria-sort", "none");
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index), y = cellValue(b, index);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        table.dispatchEvent(new Event("table-sorted"));
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  });
  // Long tables (many classes): filter by the first column's text, show one page of rows at a time.
  document.querySelectorAll("table.paged").forEach(function (table) {
    var size = parseInt(table.getAttribute("data-page-size"), 10) || 50;
    var filter = document.querySelector('input.table-filter[data-table="' + table.id + '"]');
    var pager = document.querySelector('.table-pager[data-table="' + table.id + '"]');
    var page = 0, query = "";
    function button(text) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      pager.appendChild(b);
      return b;
    }
    var prev = button("‹ previous");
    var label = document.createElement("span");
    label.className = "pager-label";
    pager.appendChild(label);
    var next = button("next ›");
    function update() {
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      var shown = rows.filter(function (r) { return r.cells[0].textContent.toLowerCase().indexOf(query) >= 0; });
      var pages = Math.max(1, Math.ceil(shown.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      rows.forEach(function (r) { r.hidden = true; });
      shown.slice(page * size, (page + 1) * size).forEach(function (r) { r.hidden = false; });
      label.textContent = shown.length
        ? " rows " + (page * size + 1) + "–" + Math.min(shown.length, (page + 1) * size) + " of " + shown.length + " "
        : " no class matches ";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    prev.addEventListener("click", function () { page -= 1; update(); });
    next.addEventListener("click", function () { page += 1; update(); });
    if (filter) { filter.addEventListener("input", function () { query = filter.value.trim().toLowerCase(); page = 0; update(); }); }
    table.addEventListener("table-sorted", function () { page = 0; update(); });
    update();
  });
})();
