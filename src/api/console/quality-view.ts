/** The tenant quality chart's points: one per ISO week of the report, weeks without reviews included (as gaps). */
import { isoWeek, isoWeekStart, type QualityReportResult } from "../../quality/feedback.ts";
import type { QualityPoint, QualityView } from "./views.ts";

const WEEK_MS = 7 * 86_400_000;

/** Folds a report's provider/model buckets into one point per week (rates weighted by scored reviews). */
export function qualityView(report: QualityReportResult): QualityView {
  const from = isoWeekStart(Date.parse(report.from));
  const points: QualityPoint[] = [];
  for (let i = 0; i < report.weeks; i++) {
    const start = from + i * WEEK_MS;
    const week = isoWeek(start);
    const buckets = report.data.filter((b) => b.week === week);
    const scored = buckets.reduce((n, b) => n + b.scored, 0);
    const weighted = (rate: (b: (typeof buckets)[number]) => number | null) => {
      const rated = buckets.filter((b) => rate(b) !== null && b.scored > 0);
      const weight = rated.reduce((n, b) => n + b.scored, 0);
      return weight === 0 ? null : rated.reduce((sum, b) => sum + rate(b)! * b.scored, 0) / weight;
    };
    points.push({
      week,
      weekStart: start / 1000,
      reviews: buckets.reduce((n, b) => n + b.reviews, 0),
      good: buckets.reduce((n, b) => n + b.good, 0),
      bad: buckets.reduce((n, b) => n + b.bad, 0),
      meanWer: scored === 0 ? null : weighted((b) => b.mean_wer),
      meanCer: scored === 0 ? null : weighted((b) => b.mean_cer),
    });
  }
  return { points };
}
