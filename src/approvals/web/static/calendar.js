// The admin page's calendar: the year as twelve month grids. A weekday clicked becomes a rest day
// (a holiday), a weekend day clicked a make-up working day (调休); clicked again, it is ordinary.
// The year's arrangement (TOML) below follows every click, and saving it loads the year.
(function () {
  const host = document.getElementById("calendar-grid");
  const text = document.getElementById("arrangement");
  if (!host || !text) return;
  const data = JSON.parse(host.dataset.year);
  const rest = new Set(data.rest_days);
  const work = new Set(data.work_days);
  const weekdays = host.dataset.weekdays.split(" ");
  const iso = (d) => [d.getFullYear(), String(d.getMonth() + 1).padStart(2, "0"), String(d.getDate()).padStart(2, "0")].join("-");
  const weekend = (d) => d.getDay() === 0 || d.getDay() === 6;
  const list = (set) => "[" + [...set].sort().map((d) => JSON.stringify(d)).join(", ") + "]";
  const write = () => {
    text.value = "year = " + data.year + "\nsource = " + JSON.stringify(data.source || "") +
      "\nrest_days = " + list(rest) + "\nwork_days = " + list(work) + "\n";
  };
  const paint = (button, day) => {
    const resting = weekend(day) ? !work.has(iso(day)) : rest.has(iso(day));
    const changed = rest.has(iso(day)) || work.has(iso(day));
    button.className = "day" + (resting ? " rest" : "") + (changed ? " changed" : "");
    button.setAttribute("aria-pressed", String(changed));
    button.title = iso(day) + (changed ? " · " + (resting ? host.dataset.rest : host.dataset.work) : "");
  };
  for (let month = 0; month < 12; month++) {
    const box = document.createElement("div");
    box.className = "month";
    const title = document.createElement("h3");
    title.textContent = host.dataset.month.replace("{m}", String(month + 1));
    box.append(title);
    const grid = document.createElement("div");
    grid.className = "days-grid";
    weekdays.forEach((name) => grid.append(Object.assign(document.createElement("span"), { className: "weekday", textContent: name })));
    const first = new Date(data.year, month, 1);
    for (let blank = (first.getDay() + 6) % 7; blank > 0; blank--) grid.append(document.createElement("span"));
    for (let day = new Date(first); day.getMonth() === month; day.setDate(day.getDate() + 1)) {
      const date = new Date(day);
      const button = Object.assign(document.createElement("button"), { type: "button", textContent: String(date.getDate()) });
      button.dataset.date = iso(date);
      paint(button, date);
      button.addEventListener("click", () => {
        const key = iso(date);
        const set = weekend(date) ? work : rest;
        if (set.has(key)) set.delete(key); else set.add(key);
        paint(button, date);
        write();
      });
      grid.append(button);
    }
    box.append(grid);
    host.append(box);
  }
  if (!text.value.trim()) write();
})();
