// Loads a .heapsnapshot with memlab and prints, for every native node,
// "id retained_size self_size name" (one per line), from memlab's own
// dominator computation.
const {getFullHeapFromFile} = require('@memlab/heap-analysis');

getFullHeapFromFile(process.argv[2]).then(heap => {
  const lines = [];
  heap.nodes.forEach(node => {
    if (node.type === 'native') {
      lines.push(`${node.id} ${node.retainedSize} ${node.self_size} ${node.name}`);
    }
  });
  process.stdout.write(lines.join('\n') + '\n');
}).catch(e => {
  console.error(e);
  process.exit(1);
});
