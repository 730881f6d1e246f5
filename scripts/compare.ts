/**
 * `npm start`: the main job. Trains the same networks with plain, deformable (DCNv1) and
 * modulated deformable (DCNv2) convolutions (dynamic and octave on request) in two
 * experiments, classification (ResNet-18/34) and segmentation (U-Net), on data where geometry
 * matters, and measures accuracy, mean IoU, epoch time against the plain network, parameters,
 * and where the deformable layers learned to sample. Writes results/report.html (open it in a
 * browser), results/results.json and results/summary.md.
 *
 *   npm start                                   # the default job, a few minutes on 2 cores
 *   npm start -- --quick                        # seconds (CI)
 *   npm start -- --dataset fashion-mnist --experiments classification --epochs 3 --train-size 20000
 *   npm start -- --models resnet18,resnet34 --stem imagenet --convs standard,deform,dynamic,octave --seeds 1,2,3
 */
import { setNumThreads } from '../lib/system';
import { runJob } from './experiments/job';
import { resolveSettings, SPEC } from './experiments/settings';
import { intOption, parseCli, UsageError, usageText } from './run_config';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const v = parseCli(argv, SPEC);
  if (v.help) {
    console.log(usageText('npm start --', SPEC));
    return;
  }
  const settings = resolveSettings(v);
  if (v.threads !== undefined) setNumThreads(intOption(v, 'threads', 1));
  const command = ['npm start', ...(argv.length ? ['--', ...argv] : [])].join(' ');
  const { markdown, files, results } = await runJob(settings, command, (line) => console.log(line));
  console.log(`\n${markdown}\n\nwhole job ${results.totalSeconds.toFixed(0)} s`);
  console.log(`wrote ${files.html} (open it in a browser), ${files.json} and ${files.markdown}`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`npm start: ${e.message}\n\n${usageText('npm start --', SPEC)}`);
    process.exitCode = 2;
  } else {
    console.error(e instanceof Error ? `npm start: ${e.stack ?? e.message}` : e);
    process.exitCode = 1;
  }
});
