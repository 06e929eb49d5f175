// Keyboard shortcuts: "/" focuses the search box; Escape closes the suggestions.
document.addEventListener("keydown", function (event) {
  var search = document.getElementById("global-search");
  if (!search) return;
  var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName) || document.activeElement.isContentEditable;
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    search.focus();
    search.select();
  } else if (event.key === "Escape" && document.activeElement === search) {
    var box = document.getElementById("search-suggestions");
    if (box) box.innerHTML = "";
  }
});
