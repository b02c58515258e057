/**
 * The tenant's quality over time (`/console/transcripts/quality`): mean WER and CER of its reviews per ISO week, from
 * the same figures as `GET /v1/admin/quality` (src/quality/feedback.ts qualityReport, limited to the tenant). A table
 * for every reader; the `quality` module draws it as a chart (uPlot, bundled).
 */
import { DataIsland } from "./data-island.tsx";
import { Shell } from "./pages.tsx";
import { assetPath } from "./transcript-page.tsx";
import { QUALITY_DATA_ID, type QualityPoint, type QualityView } from "./views.ts";

const percent = (rate: number | null) => (rate === null ? "–" : `${(rate * 100).toFixed(1)} %`);

export function QualityPage(props: { tenantName: string; csrfToken: string; view: QualityView }) {
  const points: QualityPoint[] = props.view.points;
  const reviewed = points.some((p) => p.reviews > 0);
  return (
    <Shell title="Quality over time" who={props.tenantName} csrfToken={props.csrfToken} scripts={["quality"]}>
      <link rel="stylesheet" href={assetPath("player.css")} />
      <link rel="stylesheet" href={assetPath("quality.css")} />
      <p>
        <a href="/console">← All transcripts</a>
      </p>
      <p>
        Word and character error rates of this tenant's reviewed transcripts, per week: each correction submitted on a
        transcript page is scored against the transcript it corrects.
      </p>
      {reviewed ? (
        <figure>
          <div
            id="quality-chart"
            class="chart"
            data-testid="quality-chart"
            role="img"
            aria-label="Mean WER and CER per week"
          />
          <figcaption class="muted">
            Mean WER and CER of the week's scored reviews (the table below holds the figures).
          </figcaption>
        </figure>
      ) : (
        <p class="note">No reviews yet: rate or correct a transcript on its page.</p>
      )}
      <div class="table-scroll" tabindex={0} role="region" aria-label="Weekly figures">
        <table data-testid="quality">
          <caption class="muted">The last {points.length} weeks.</caption>
          <thead>
            <tr>
              <th scope="col">Week</th>
              <th scope="col">Reviews</th>
              <th scope="col">Good</th>
              <th scope="col">Bad</th>
              <th scope="col">Mean WER</th>
              <th scope="col">Mean CER</th>
            </tr>
          </thead>
          <tbody>
            {points.map((p) => (
              <tr>
                <td>{p.week}</td>
                <td>{String(p.reviews)}</td>
                <td>{String(p.good)}</td>
                <td>{String(p.bad)}</td>
                <td>{percent(p.meanWer)}</td>
                <td>{percent(p.meanCer)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <DataIsland id={QUALITY_DATA_ID} value={props.view} />
    </Shell>
  );
}
