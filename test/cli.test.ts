import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { syntheticShapes } from '../lib/data';
import { ResNet, UNet } from '../lib/models';
import {
  buildModel,
  choiceOption,
  intOption,
  loadDatasets,
  numberOption,
  parseCli,
  parseStages,
  UsageError,
  usageText,
} from '../scripts/run_config';

// The option handling shared by `npm run train` and `npm start`: every mistake is a UsageError
// that names the option, what it accepts and what it received.
const SPEC = {
  epochs: { type: 'string' as const, default: '5', help: 'epochs' },
  model: { type: 'string' as const, default: 'resnet18', help: 'network' },
  resume: { type: 'boolean' as const, default: false, help: 'resume' },
};

describe('command-line options', () => {
  test('parses values and defaults; rejects unknown options', () => {
    expect(parseCli(['--epochs', '3', '--resume'], SPEC)).toEqual({ epochs: '3', model: 'resnet18', resume: true });
    expect(() => parseCli(['--epoch', '3'], SPEC)).toThrow(UsageError);
    expect(() => parseCli(['--epoch', '3'], SPEC)).toThrow(/Unknown option '--epoch'/);
    expect(usageText('npm run train --', SPEC)).toMatch(/--epochs <value> +epochs \(default 5\)/);
  });

  test('numbers, choices and stages name the option and the accepted values', () => {
    expect(intOption({ epochs: '4' }, 'epochs', 0)).toBe(4);
    expect(() => intOption({ epochs: '2.5' }, 'epochs', 0)).toThrow(
      /--epochs: expected an integer >= 0 but received "2.5"/,
    );
    expect(() => intOption({ 'batch-size': '0' }, 'batch-size', 1)).toThrow(/--batch-size: expected an integer >= 1/);
    expect(numberOption({ lr: '1e-3' }, 'lr', 0)).toBe(0.001);
    expect(() => numberOption({ lr: 'fast' }, 'lr', 0)).toThrow(/--lr: expected a number >= 0 but received "fast"/);
    expect(() => choiceOption({ model: 'vgg' }, 'model', ['resnet18', 'resnet34'])).toThrow(
      /--model: expected one of resnet18, resnet34 but received "vgg"/,
    );
    expect(parseStages('3,4', 4)).toEqual([3, 4]);
    expect(parseStages('all', 4)).toBeNull();
    expect(() => parseStages('0,5', 4)).toThrow(/--stages: expected comma-separated stage numbers in 1\.\.4/);
  });

  test('datasets and models fit together', () => {
    const { train, test: testSet } = loadDatasets('synthetic', { trainSize: 20, testSize: 10, seed: 1 });
    expect([train.length, testSet.length]).toEqual([20, 10]);
    expect(buildModel('resnet18', { conv: 'standard', stages: null, width: 4, train })).toBeInstanceOf(ResNet);
    expect(() => buildModel('unet', { conv: 'standard', stages: null, train })).toThrow(
      /--model unet needs a segmentation dataset/,
    );
    const seg = syntheticShapes({ task: 'segmentation', length: 4, seed: 1 });
    expect(buildModel('unet', { conv: 'standard', stages: null, width: 4, train: seg })).toBeInstanceOf(UNet);
    expect(() => loadDatasets('cifar10', { seed: 0 })).toThrow(/--dataset cifar10 needs --data-dir/);
  });
});

describe('the command lines themselves', () => {
  const root = path.resolve(__dirname, '..');
  const run = (script: string, args: string[]) =>
    spawnSync(process.execPath, [path.join(root, 'dist', 'scripts', script), ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });

  test('bench --help prints the usage and exits 0; an unknown suite exits 1', () => {
    const help = run('bench.js', ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run bench -- <suite>/);
    expect(run('bench.js', ['nope']).status).toBe(1);
  });

  test('train --epochs 0 is a usage error before anything is built', () => {
    const r = run('train.js', ['--epochs', '0']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--epochs: expected an integer >= 1 but received "0"/);
    expect(r.stdout).not.toMatch(/parameters/);
  });
});
