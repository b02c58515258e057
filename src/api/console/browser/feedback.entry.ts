/**
 * The transcript page's feedback form: a word diff of the correction against the transcript (the `diff` library,
 * bundled), updated as the reader types, and submission without leaving the page; the WER and CER the service
 * computed are shown. Without script the form posts and the page reloads with the stored figures.
 */
import { diffWordsWithSpace } from "diff";

import { type ConsoleProblem, type FeedbackOutcome, TRANSCRIPT_DATA_ID, type TranscriptView } from "../views.ts";
import { readIsland } from "./data.ts";
import { onReady, postForm } from "./dom.ts";

const percent = (rate: number | null) => (rate === null ? "n/a" : `${(rate * 100).toFixed(1)} %`);

/** Renders the diff of `after` against `before` into `target` as <del>/<ins> text nodes (never as markup). */
export function renderDiff(target: HTMLElement, before: string, after: string): number {
  const parts = diffWordsWithSpace(before, after);
  const changed = parts.filter((p) => p.added || p.removed).length;
  target.replaceChildren();
  if (!changed) {
    const none = document.createElement("span");
    none.className = "muted";
    none.textContent = "No changes yet.";
    target.append(none);
    return 0;
  }
  for (const part of parts) {
    const element = document.createElement(part.added ? "ins" : part.removed ? "del" : "span");
    element.textContent = part.value;
    target.append(element);
  }
  return changed;
}

onReady(() => {
  const view = readIsland<TranscriptView>(TRANSCRIPT_DATA_ID);
  const form = document.getElementById("feedback-form");
  const textarea = document.getElementById("corrected_text");
  const diff = document.getElementById("diff");
  const result = document.getElementById("feedback-result");
  if (!view || !(form instanceof HTMLFormElement) || !(textarea instanceof HTMLTextAreaElement) || !diff || !result) {
    return;
  }
  let pending = 0;
  const update = () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => renderDiff(diff, view.text, textarea.value));
  };
  textarea.addEventListener("input", update);
  update();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const fields: Record<string, string> = {};
    for (const [name, value] of data) if (typeof value === "string" && name !== "csrf_token") fields[name] = value;
    const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
    if (button) button.disabled = true;
    result.textContent = "Submitting…";
    void (async () => {
      try {
        const res = await postForm(view.feedbackAction, fields);
        const body = (await res.json()) as FeedbackOutcome | ConsoleProblem;
        if (!res.ok || !("rating" in body)) {
          result.textContent = `Not saved: ${"detail" in body ? body.detail : res.statusText}`;
          return;
        }
        result.textContent = `Your review: ${body.rating}. WER ${percent(body.wer)}, CER ${percent(body.cer)}.`;
        result.dataset.wer = body.wer === null ? "" : String(body.wer);
      } catch {
        result.textContent = "Not saved: the console could not be reached.";
      } finally {
        if (button) button.disabled = false;
      }
    })();
  });
});
