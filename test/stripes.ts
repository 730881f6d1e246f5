/**
 * The generated task the training tests use: noisy stripes whose orientation (horizontal,
 * vertical, diagonal, anti-diagonal) is the class, and the small CNN that learns it.
 */
import { Generator, Tensor } from '../lib';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential } from '../lib/nn';

export const SIZE = 16;
export const CLASSES = 4;
const ANGLES = [0, 90, 45, 135];

/**
 * Stripes at the class's angle (jittered +-10 degrees), random frequency and phase, amplitude 1,
 * plus Gaussian noise of standard deviation 2 per pixel: no single pixel tells the class.
 */
export function stripes(count: number, g: Generator): { x: Tensor; y: Tensor; labels: number[] } {
  const data = new Float32Array(count * SIZE * SIZE);
  const labels: number[] = [];
  for (let n = 0; n < count; n++) {
    const label = g.int(CLASSES);
    labels.push(label);
    const angle = ((ANGLES[label] + (g.uniform() * 20 - 10)) * Math.PI) / 180;
    const freq = 0.7 + 0.6 * g.uniform();
    const phase = 2 * Math.PI * g.uniform();
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    for (let i = 0; i < SIZE; i++) {
      for (let j = 0; j < SIZE; j++) {
        // Stripes vary along the normal (c, s): constant along the stripe direction.
        data[n * SIZE * SIZE + i * SIZE + j] = Math.sin(freq * (j * s + i * c) + phase) + 2 * g.normal();
      }
    }
  }
  return { x: Tensor.from(data, [count, 1, SIZE, SIZE]), y: Tensor.from(labels), labels };
}

export function smallCnn(): Sequential<Module> {
  return new Sequential<Module>(
    new Conv2d(1, 8, { kernelSize: 3, padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(8, 16, { kernelSize: 3, padding: 1 }),
    new BatchNorm2d(16),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(16 * (SIZE / 4) * (SIZE / 4), CLASSES),
  );
}
