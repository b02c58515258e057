/**
 * Every `<time datetime="…">` the server rendered in UTC is shown in the reader's own time zone; the UTC value stays
 * in the `title`. Without script the UTC text remains.
 */
import { onReady } from "./dom.ts";

const FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

onReady(() => {
  for (const element of document.querySelectorAll<HTMLTimeElement>("time[datetime]")) {
    const at = new Date(element.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    element.title = element.textContent ?? "";
    element.textContent = FORMAT.format(at);
  }
});
