/** Reports: SVG charts and self-contained HTML pages (`import { report } from 'flexconv'`). */
export { svgLineChart, type Series, type ChartOptions } from './line_chart';
export { svgBarChart, type BarGroup, type BarChartOptions } from './bar_chart';
export { htmlReport, htmlTable, htmlFigures, type ReportPage, type ReportSection } from './html';
export { textWidth, escapeXml, PALETTE } from './svg_text';
export { encodeGreyPng } from './png';
export { samplingLocationsSvg, type SamplingSvgOptions } from './sampling_svg';
