/** Reads a page's JSON data island (`<script type="application/json" id>`, src/api/console/data-island.tsx). */
export function readIsland<T>(id: string): T | null {
  const element = document.getElementById(id);
  if (!element || element.getAttribute("type") !== "application/json") return null;
  try {
    return JSON.parse(element.textContent ?? "") as T;
  } catch {
    return null;
  }
}
