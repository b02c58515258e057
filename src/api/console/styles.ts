/** The console's one stylesheet, served at `/console/assets/console.css` (the CSP allows styles from 'self' only). */
export const CONSOLE_CSS = `
:root { color-scheme: light dark; --accent: #2457c5; --muted: #666; --border: #ccc; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; justify-content: space-between;
  padding: 0.75rem 1rem; border-bottom: 1px solid var(--border); }
header .who { font-weight: 600; overflow-wrap: anywhere; }
nav ul { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; margin: 0; padding: 0.5rem 1rem;
  border-bottom: 1px solid var(--border); }
main { padding: 1rem; max-width: 70rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { font: inherit; padding: 0.4rem 0.9rem; border: 1px solid var(--accent); border-radius: 4px;
  background: var(--accent); color: #fff; cursor: pointer; }
form.sign-out button { background: transparent; color: var(--accent); }
label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
input[type="password"] { width: 100%; max-width: 32rem; font: inherit; padding: 0.4rem; }
.error { color: #b00020; font-weight: 600; }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--border); vertical-align: top; }
td { overflow-wrap: anywhere; }
.muted { color: var(--muted); }
code { font-size: 0.9em; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
  white-space: nowrap; }
form.filters { display: flex; flex-wrap: wrap; gap: 0.75rem 1rem; align-items: flex-end; margin-bottom: 1rem; }
form.filters .field { flex: 1 1 10rem; min-width: 0; }
form.filters .field.wide { flex-basis: 100%; }
form.filters input, form.filters select { width: 100%; font: inherit; padding: 0.35rem; }
form.filters .actions { display: flex; gap: 1rem; align-items: center; }
form.export fieldset { border: 1px solid var(--border); border-radius: 4px; margin: 0 0 1rem; }
label.inline { display: inline-flex; gap: 0.25rem; align-items: center; font-weight: normal; margin-right: 0.75rem; }
.notice { font-weight: 600; }
input[type="text"], input[type="number"], input[type="date"] { width: 100%; max-width: 32rem; font: inherit;
  padding: 0.4rem; }
input:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
fieldset { border: 1px solid var(--border); margin: 0.75rem 0; max-width: 32rem; }
label.check { display: flex; gap: 0.5rem; align-items: center; font-weight: 400; }
nav a[aria-current="page"] { font-weight: 700; }
.flash { padding: 0.5rem 0.75rem; border-left: 4px solid #1b7f3b; background: #e8f5ec; color: #0b3d1c; }
button.danger { background: #a4001d; border-color: #a4001d; }
form.inline { display: inline-block; margin: 0.15rem 0.3rem 0.15rem 0; }
details.confirm { display: inline-block; margin: 0.15rem 0.3rem 0.15rem 0; }
details.confirm summary { cursor: pointer; color: var(--accent); text-decoration: underline; }
details.confirm[open] { display: block; padding: 0.5rem; border: 1px solid var(--border); border-radius: 4px; }
td.actions { white-space: normal; min-width: 12rem; }
.badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 1rem; border: 1px solid currentColor;
  font-size: 0.9em; background: #fff; }
.state-closed, .verdict-stable, .key-active, .class-recoverable { color: #0b5d26; background: #e8f5ec; }
.state-half_open, .verdict-moderate { color: #7a4a00; background: #fff4dc; }
.state-open, .verdict-significant, .key-revoked, .class-corrupt { color: #9b0019; background: #fde8ec; }
.verdict-insufficient_data, .key-expired { color: #444; background: #eee; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: 0.25rem; }
input.secret { font-family: ui-monospace, monospace; }
main h1, main h2, main p, summary { overflow-wrap: anywhere; }
.table-scroll:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
`;
