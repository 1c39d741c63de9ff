// The report's script: unpack the embedded data, then draw only what is in view (a page of
// each table, the charts of the SKUs on the current page). Every text is set as text (never
// parsed as HTML). Errors go into #js-errors; #render-check says what the browser drew.
(function(){
'use strict';
var errs=document.getElementById('js-errors'),SVG='http://www.w3.org/2000/svg';
function fail(m){errs.className='on';errs.textContent+=m+'\n';document.body.dataset.jsErrors='1';}
window.addEventListener('error',function(e){fail('error: '+e.message);});

function el(tag,attrs,text){var e=document.createElement(tag);
  if(attrs)Object.keys(attrs).forEach(function(k){if(attrs[k]!=null)e.setAttribute(k,attrs[k]);});
  if(text!=null)e.textContent=text;return e;}
function sv(tag,attrs){var e=document.createElementNS(SVG,tag);
  Object.keys(attrs).forEach(function(k){e.setAttribute(k,attrs[k]);});return e;}
function num(v,d){return v.toLocaleString('en-US',{minimumFractionDigits:d,maximumFractionDigits:d});}
function money(c,cur){if(c==null)return '\u2014';var v=num(c/100,2);return cur==='CNY'?'\u00a5'+v:v+' '+cur;}
function pct(v,signed){if(v==null)return '\u2014';return (signed&&v>0?'+':'')+v.toFixed(1)+'%';}
function pctSpan(v){return el('span',{'class':v<0?'down':v>0?'up':''},pct(v,true));}
function badge(cls,text){return el('span',{'class':'badge '+cls},text);}
// A SKU with fewer days of data than [report] min_history_days: no low, no average, "new".
function newBadge(box,i,B,D){if(B.cheapest[i]!=null&&B.hist[i]<D.min_hist)box.appendChild(badge('b-new',
  'new: '+B.hist[i]+(B.hist[i]===1?' day':' days')+' of history'));}
function link(title,url,n){var t=(title||'').trim()||'(no title)',s=t.length>n?t.slice(0,n-1)+'\u2026':t;
  return url&&/^https?:\/\//.test(url)?el('a',{href:url,title:t,target:'_blank',rel:'noopener'},s)
    :el('span',{title:t},s);}
function day(since,off){return new Date(Date.parse(since+'T00:00:00Z')+off*864e5).toISOString().slice(0,10);}

function unpack(){
  var node=document.getElementById('report-data');if(!node)return Promise.resolve(null);
  if(typeof DecompressionStream==='undefined')return Promise.reject(new Error(
    'this browser cannot unpack the report (it needs Chrome 80, Firefox 113, Safari 16.4 or newer)'));
  var b=atob(node.textContent.trim()),u=new Uint8Array(b.length);
  for(var i=0;i<b.length;i++)u[i]=b.charCodeAt(i);
  return new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).json();
}

// Chart points per SKU: [{p: platform index, days: [offsets from since], vals: [cents]}].
function expand(S){var out={},k=0;
  for(var j=0;j<S.sku.length;j++){var days=[],vals=[],v=0;
    for(var i=0;i<S.n[j];i++,k++){if(S.dv[k]===null)continue;v+=S.dv[k];days.push(S.d0[j]+i);vals.push(v);}
    (out[S.sku[j]]=out[S.sku[j]]||[]).push({p:S.plat[j],days:days,vals:vals});}
  return out;}

// Round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps).
function ticks(lo,hi){if(hi<=lo){var pad=Math.abs(lo)*0.1||1;lo-=pad;hi+=pad;}
  var raw=(hi-lo)/4,mag=Math.pow(10,Math.floor(Math.log10(raw))),step=10*mag;
  [1,2,2.5,5].some(function(m){if(m*mag>=raw){step=m*mag;return true;}return false;});
  var t=[];for(var i=Math.floor(lo/step+1e-9);i<=Math.ceil(hi/step-1e-9);i++)t.push(+(i*step).toFixed(10));
  return t;}
function tickText(v){return Math.abs(v)>=100?num(v,0):String(+v.toFixed(2));}

// An SVG line chart, one <g class="series"> per platform holding its path (dots drawn as
// path markers) and its days/values for the hover tooltip.
function chart(id,sku,lines,D){
  var W=560,H=230,L=56,R=14,T=12,B=28,pw=W-L-R,ph=H-T-B,dmin=Infinity,dmax=-Infinity,vmin=Infinity,vmax=-Infinity;
  lines.forEach(function(s){s.days.forEach(function(d,i){var v=s.vals[i]/100;
    dmin=Math.min(dmin,d);dmax=Math.max(dmax,d);vmin=Math.min(vmin,v);vmax=Math.max(vmax,v);});});
  var svg=sv('svg',{'class':'chart',id:id,viewBox:'0 0 '+W+' '+H,role:'img',preserveAspectRatio:'xMidYMid meet'});
  svg.dataset.sku=sku;
  if(!isFinite(dmin)){svg.setAttribute('class','chart empty');return svg;}
  var span=Math.max(dmax-dmin,1),tk=ticks(vmin,vmax),y0=tk[0],y1=tk[tk.length-1],flat=dmax===dmin;
  function x(d){return L+(flat?pw/2:pw*(d-dmin)/span);}
  function y(v){return T+ph*(1-(v-y0)/(y1-y0));}
  svg.dataset.d0=day(D.since,dmin);svg.dataset.x0=flat?L+pw/2:L;svg.dataset.pw=flat?0:pw;svg.dataset.span=span;
  var defs=sv('defs',{});svg.appendChild(defs);
  lines.forEach(function(s,i){var r=s.days.length<=45?3:1.6,m=sv('marker',{id:id+'-m'+i,viewBox:'0 0 10 10',
    refX:5,refY:5,markerWidth:2*r+2,markerHeight:2*r+2,markerUnits:'userSpaceOnUse'});
    m.appendChild(sv('circle',{cx:5,cy:5,r:4,fill:D.colours[s.p],stroke:'#fff','stroke-width':1.4}));
    defs.appendChild(m);});
  tk.forEach(function(t){svg.appendChild(sv('line',{'class':'grid',x1:L,x2:W-R,y1:y(t).toFixed(1),y2:y(t).toFixed(1)}));
    var lab=sv('text',{'class':'ylab',x:L-6,y:(y(t)+4).toFixed(1)});lab.textContent=tickText(t);svg.appendChild(lab);});
  var nx=flat?1:Math.min(6,span+1);
  for(var i=0;i<nx;i++){var d=nx>1?dmin+Math.round(i*span/(nx-1)):dmin,
    lab=sv('text',{'class':'xlab',x:x(d).toFixed(1),y:H-8});lab.textContent=day(D.since,d).slice(5);svg.appendChild(lab);}
  lines.forEach(function(s,i){
    var pts=s.days.map(function(d,k){return x(d).toFixed(1)+','+y(s.vals[k]/100).toFixed(1);});
    if(pts.length===1)pts.push(pts[0]);  // a lone point: a zero-length segment still gets its markers
    var g=sv('g',{'class':'series'});g.dataset.name=D.platforms[s.p];
    g.dataset.days=s.days.map(function(d){return d-dmin;}).join(',');
    g.dataset.v=s.vals.map(function(v){return String(v/100);}).join(',');
    g.style.setProperty('--c',D.colours[s.p]);
    var path=sv('path',{'class':'line',d:'M'+pts.join(' L')});path.style.marker='url(#'+id+'-m'+i+')';
    g.appendChild(path);svg.appendChild(g);});
  hover(svg);
  return svg;}

function hover(svg){
  var tip=document.getElementById('tip'),guide=null;
  var d0=new Date(svg.dataset.d0+'T00:00:00Z'),x0=+svg.dataset.x0,pw=+svg.dataset.pw,span=+svg.dataset.span;
  svg.addEventListener('mousemove',function(ev){
    var pt=svg.createSVGPoint();pt.x=ev.clientX;pt.y=ev.clientY;var p=pt.matrixTransform(svg.getScreenCTM().inverse());
    var day=pw>0?Math.round((p.x-x0)/pw*span):0;if(day<0||day>span){tip.style.display='none';return;}
    var rows=[];svg.querySelectorAll('g.series').forEach(function(g){
      var ds=g.dataset.days.split(','),vs=g.dataset.v.split(','),k=ds.indexOf(String(day));
      if(k>=0)rows.push([g.style.getPropertyValue('--c'),g.dataset.name+' '+num(+vs[k],2)]);});
    if(!rows.length){tip.style.display='none';return;}
    tip.textContent=new Date(d0.getTime()+day*864e5).toISOString().slice(0,10);
    rows.forEach(function(r){tip.appendChild(document.createElement('br'));
      tip.appendChild(document.createElement('i')).style.background=r[0];
      tip.appendChild(document.createTextNode(r[1]));});
    tip.style.display='block';tip.style.left=(ev.clientX+14)+'px';tip.style.top=(ev.clientY+12)+'px';
    if(!guide){guide=sv('line',{'class':'guide'});svg.appendChild(guide);}
    var gx=x0+(span?pw*day/span:0);guide.setAttribute('x1',gx);guide.setAttribute('x2',gx);
    guide.setAttribute('y1',12);guide.setAttribute('y2',202);guide.style.display='';});
  svg.addEventListener('mouseleave',function(){tip.style.display='none';if(guide)guide.style.display='none';});
}

// Prev / next under a paged list; says which rows are shown of how many.
function pager(box,n,page,size,go){
  var pages=Math.max(1,Math.ceil(n/size)),nav=el('div',{'class':'pager'});
  var prev=el('button',{type:'button'},'\u2039 prev'),next=el('button',{type:'button'},'next \u203a');
  prev.disabled=page<=0;next.disabled=page>=pages-1;
  prev.addEventListener('click',function(){go(page-1);});next.addEventListener('click',function(){go(page+1);});
  nav.appendChild(prev);
  nav.appendChild(el('span',null,n?(page*size+1).toLocaleString('en-US')+'\u2013'+
    Math.min(n,(page+1)*size).toLocaleString('en-US')+' of '+n.toLocaleString('en-US')+
    ' \u00b7 page '+(page+1)+' of '+pages:'nothing matches'));
  nav.appendChild(next);box.appendChild(nav);}

// A table over row numbers: cols [{label, num, key(i) -> sort value, cell(i) -> Node|text}].
function Paged(box,cols,n,size,match,empty){
  var all=[],q='',shown=[],page=0,sortBy=-1,dir=1;for(var i=0;i<n;i++)all.push(i);
  function apply(){shown=all.filter(function(i){return !q||match(i,q);});
    if(sortBy>=0){var key=cols[sortBy].key;shown.sort(function(a,b){var x=key(a),y=key(b);
      if(x==null||y==null)return (x==null)-(y==null)||a-b;
      return (typeof x==='number'?x-y:String(x).localeCompare(String(y)))*dir||a-b;});}
    page=0;draw();}
  function draw(){box.textContent='';
    if(!n){box.appendChild(el('p',{'class':'empty'},empty));return;}
    var t=el('table'),hr=t.appendChild(el('thead')).appendChild(el('tr')),body=t.appendChild(el('tbody'));
    cols.forEach(function(c,k){var th=hr.appendChild(el('th',{'class':c.num?'n':'',title:'sort'},
      c.label+(k===sortBy?(dir>0?' \u25b4':' \u25be'):'')));
      th.addEventListener('click',function(){dir=k===sortBy?-dir:1;sortBy=k;apply();});});
    shown.slice(page*size,(page+1)*size).forEach(function(i){var tr=body.appendChild(el('tr'));
      cols.forEach(function(c){var v=c.cell(i),td=tr.appendChild(el('td',{'class':c.num?'n':''}));
        if(v instanceof Node)td.appendChild(v);else td.textContent=v==null?'\u2014':v;});});
    box.appendChild(t);pager(box,shown.length,page,size,function(p){page=p;draw();});}
  apply();
  return {filter:function(s){q=s;apply();},refresh:function(){var p=page;apply();page=p;draw();}};}

// Review decisions on the best offers: "not this product" (reject) or "this product"
// (confirm) per SKU and listing, kept in the page and exported as the CSV that
// `snapprice match import FILE` reads (sku,platform,item_id,decision,note).
function Review(D,box,changed){
  var B=D.best,said={},bar=box.parentNode.insertBefore(el('div',{'class':'review'}),box);
  var count=bar.appendChild(el('span',null,'')),out=bar.appendChild(el('button',{type:'button'},'export decisions (CSV)'));
  function key(i,k){return i+'|'+k;}
  function csv(v){v=String(v);return /[",\n\r]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v;}
  function text(){var rows=['sku,platform,item_id,decision,note'];Object.keys(said).sort().forEach(function(x){
    var p=x.split('|'),i=+p[0],k=+p[1];rows.push([D.skus[i],D.platforms[k],B.iid[k][i],said[x],
      'report of '+D.since].map(csv).join(','));});return rows.join('\n')+'\n';}
  function show(){var n=Object.keys(said).length;count.textContent=n?n+(n===1?' decision':' decisions')+
      ' \u00b7 import with: snapprice match import FILE ':'review: \u2715 = not this product, \u2713 = this product ';
    out.disabled=!n;bar.dataset.csv=text();}
  out.addEventListener('click',function(){var a=el('a',{download:'snapprice-review.csv',
    href:URL.createObjectURL(new Blob([text()],{type:'text/csv'}))});document.body.appendChild(a);a.click();a.remove();});
  show();
  return {get:function(i,k){return said[key(i,k)];},
    buttons:function(f,i,k){[['reject','\u2715','not this product: reject the match'],
      ['confirm','\u2713','this product: keep the match']].forEach(function(d){
      var b=f.appendChild(el('button',{type:'button','class':'rv'+(said[key(i,k)]===d[0]?' on':''),
        'data-decision':d[0],title:d[2]},d[1]));
      b.addEventListener('click',function(){var x=key(i,k);if(said[x]===d[0])delete said[x];else said[x]=d[0];
        show();changed();});});}};}

// Compare on the offer price (0), the landed price with shipping (1) or the price per unit (2):
// the cheapest platform and the gap are those of the chosen measure, among platforms that have
// it (per unit: only offers priced in the same unit as the cheapest one).
var MEASURES=[['p','offer price'],['pl','landed (with shipping)'],['pu','per unit']];
function bestTable(D,box){
  var B=D.best,mode=0,n=D.skus.length,cheap=B.cheapest.slice(),gap=B.gap.slice();
  function v(k,i){return B[MEASURES[mode][0]][k][i];}
  function compute(){if(mode===0){cheap=B.cheapest.slice();gap=B.gap.slice();return;}
    for(var i=0;i<n;i++){var lo=null,hi=null,c=null,kind=null,m=0;
      D.platforms.forEach(function(_,k){var x=v(k,i);if(x==null||B.cheapest[i]==null)return;
        if(mode===2){if(kind==null)kind=B.pk[k][i];else if(B.pk[k][i]!==kind)return;}
        m++;if(lo==null||x<lo){lo=x;c=k;}if(hi==null||x>hi)hi=x;});
      cheap[i]=c;gap[i]=m>1&&lo>0?Math.round((hi/lo-1)*1000)/10:null;}}
  function same(k,i){return mode!==2||cheap[i]==null||B.pk[k][i]===B.pk[cheap[i]][i];}
  var cols=[{label:'SKU',key:function(i){return i;},cell:function(i){
    var a=el('a',{href:'#search','class':'sku'},D.skus[i]);a.addEventListener('click',function(){search(D.skus[i]);});
    return a;}}];
  D.platforms.forEach(function(p,k){cols.push({label:p,num:true,key:function(i){return v(k,i);},cell:function(i){
    var x=v(k,i);if(x==null)return null;var f=document.createDocumentFragment(),cur=D.currencies[B.cur[i]];
    var said=review.get(i,k),cls=(cheap[i]===k?'best ':'')+(said?said+'ed':'');
    f.appendChild(el('span',{'class':cls},money(x,cur)+(mode===2?'/'+B.pk[k][i]:'')));
    var best=cheap[i]==null?null:v(cheap[i],i);
    if(best!=null&&x>best&&same(k,i))f.appendChild(el('small',{'class':'up'},' +'+Math.round((x/best-1)*100)+'%'));
    if(B.iid[k][i]!=null)review.buttons(f,i,k);
    return f;}});});
  cols.push({label:'cheapest',key:function(i){return cheap[i]==null?null:D.platforms[cheap[i]];},
    cell:function(i){if(B.cheapest[i]==null)return 'no current offer';
      if(cheap[i]==null)return el('small',null,mode===1?'no shipping fee given':'no pack size in the titles');
      var f=document.createDocumentFragment();
      f.appendChild(document.createTextNode(D.platforms[cheap[i]]));
      if(B.is_low[i])f.appendChild(badge('b-low','90-day low'));else newBadge(f,i,B,D);return f;}},
    {label:'gap max/min',num:true,key:function(i){return gap[i];},cell:function(i){return pct(gap[i],false);}},
    {label:'vs 30-day avg',num:true,key:function(i){return B.vs30[i];},
     cell:function(i){return B.vs30[i]==null?(B.hist[i]<D.min_hist?el('small',null,'not enough history'):null)
       :pctSpan(B.vs30[i]);}},
    {label:'90-day low',num:true,key:function(i){return B.low90[i];},
     cell:function(i){return money(B.low90[i],D.currencies[B.cur[i]]);}});
  var review=Review(D,box,function(){table.refresh();});
  var bar=box.parentNode.insertBefore(el('div',{'class':'measures'},'compare on: '),box);
  MEASURES.forEach(function(m,k){var b=bar.appendChild(el('button',{type:'button','data-measure':m[0],
    'class':k===mode?'on':''},m[1]));
    b.addEventListener('click',function(){mode=k;compute();
      bar.querySelectorAll('button').forEach(function(x,j){x.className=j===mode?'on':'';});table.refresh();});});
  var table=Paged(box,cols,n,50,function(i,q){return (D.skus[i]+' '+B.title[i]).toLowerCase().indexOf(q)>=0;},
    'No matched prices in this period.');
  return table;}

function alertsTable(D,box){
  var A=D.alerts;
  return Paged(box,[
    {label:'rule',key:function(i){return A.rule[i];},cell:function(i){return badge('b-rule',A.rule[i].replace(/_/g,' '));}},
    {label:'SKU',key:function(i){return A.sku[i];},cell:function(i){return A.sku[i];}},
    {label:'platform',key:function(i){return A.plat[i];},cell:function(i){return A.plat[i];}},
    {label:'listing',key:function(i){return A.title[i];},cell:function(i){return link(A.title[i],A.url[i],40);}},
    {label:'what',key:function(i){return A.msg[i];},cell:function(i){return A.msg[i];}},
    {label:'price',num:true,key:function(i){return A.price[i];},
     cell:function(i){return money(A.price[i],D.currencies[A.cur[i]]);}},
    {label:'when (UTC)',key:function(i){return A.at[i];},
     cell:function(i){return new Date(A.at[i]*1000).toISOString().slice(0,16).replace('T',' ');}}],
    A.rule.length,25,function(i,q){return (A.sku[i]+' '+A.plat[i]+' '+A.rule[i]+' '+A.title[i]).toLowerCase()
      .indexOf(q)>=0;},'No alerts in this period.');}

function charts(D,box,series){
  var all=D.skus.map(function(_,i){return i;}).filter(function(i){return series[i];}),shown=all,page=0,size=12,B=D.best;
  function draw(){box.textContent='';
    var grid=box.appendChild(el('div',{'class':'charts'}));
    shown.slice(page*size,(page+1)*size).forEach(function(i){
      var card=grid.appendChild(el('div',{'class':'card'})),cur=D.currencies[B.cur[i]];
      card.appendChild(el('h3',null,D.skus[i]));
      var meta=card.appendChild(el('div',{'class':'meta'}));
      if(B.cheapest[i]==null)meta.textContent='no current offer';else{
        meta.appendChild(document.createTextNode('now '+money(B.p[B.cheapest[i]][i],cur)+' on '+D.platforms[B.cheapest[i]]));
        if(B.is_low[i])meta.appendChild(badge('b-low','90-day low'));else newBadge(meta,i,B,D);
        if(B.vs30[i]!=null)meta.appendChild(document.createTextNode(' \u00b7 '+pct(B.vs30[i],true)+' vs 30-day avg'));}
      if(B.title[i])card.appendChild(el('div',{'class':'meta'},B.title[i]));
      var legend=card.appendChild(el('div',{'class':'legend'}));
      series[i].forEach(function(s){legend.appendChild(el('i',{style:'background:'+D.colours[s.p]}));
        legend.appendChild(document.createTextNode(D.platforms[s.p]));});
      card.appendChild(chart('chart-'+i,D.skus[i],series[i],D));});
    pager(box,shown.length,page,size,function(p){page=p;draw();check();});}
  draw();
  return {filter:function(q){shown=all.filter(function(i){return !q||(D.skus[i]+' '+B.title[i]).toLowerCase()
    .indexOf(q)>=0;});page=0;draw();check();}};}

function check(){
  var out={};document.querySelectorAll('svg.chart').forEach(function(svg){
    var n=0;svg.querySelectorAll('g.series').forEach(function(g){
      var path=g.querySelector('path');if(!path)return;var b=path.getBBox();
      var dots=getComputedStyle(path).markerMid!=='none';
      if(b.width>0||b.height>0||(dots&&isFinite(b.x)&&b.x>0))n++;});
    out[svg.dataset.sku]=n;});
  document.getElementById('render-check').textContent=JSON.stringify(out);
  document.body.dataset.rendered=Object.keys(out).length;}

// The small tables drawn by the server sort on a header click.
function sortable(t){t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0];if(!body)return;var rows=Array.prototype.slice.call(body.rows);
  var dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir===1?'asc':'desc';
  rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,
    y=b.cells[i].dataset.v||b.cells[i].textContent,fx=parseFloat(x),fy=parseFloat(y);
    if(!isNaN(fx)&&!isNaN(fy))return (fx-fy)*dir;return x.localeCompare(y)*dir;});
  rows.forEach(function(r){body.appendChild(r);});});});}

var views=[],input=document.getElementById('search');
function search(q){input.value=q;views.forEach(function(v){v.filter(q.trim().toLowerCase());});}
try{document.querySelectorAll('table').forEach(sortable);}catch(e){fail('init: '+e.message);}
unpack().then(function(D){
  if(D){
    var ab=document.getElementById('alerts-table'),bb=document.getElementById('best-table'),
      cb=document.getElementById('charts');
    if(ab)views.push(alertsTable(D,ab));
    if(bb)views.push(bestTable(D,bb));
    if(cb)views.push(charts(D,cb,expand(D.series)));
    var timer=null;
    if(input)input.addEventListener('input',function(){clearTimeout(timer);
      timer=setTimeout(function(){search(input.value);},150);});
  }
  check();document.body.dataset.ready='1';
}).catch(function(e){fail('data: '+e.message);document.body.dataset.ready='1';});
})();
